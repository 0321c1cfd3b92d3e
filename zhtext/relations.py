"""Who the speaker is to the child: "奶奶", "我是孩子奶奶", "外婆", "他姥爷" → the relation as an
office's form writes it (祖父母, 外祖父母, 父亲, 母亲, 其他亲属)."""

from __future__ import annotations

import re

from zhtext.normal import bare

RELATION_WORDS: list[tuple[str, str]] = [
    *[(w, "外祖父母") for w in ("外祖父母", "外祖父", "外祖母", "外婆", "外公", "姥姥", "姥爷", "姥娘", "家婆", "家公",
                             "外爷", "阿婆", "嘎嘎", "嘎婆", "嘎公", "姥")],  # 嘎嘎: 川渝话的外婆
    *[(w, "祖父母") for w in ("祖父母", "祖父", "祖母", "爷爷奶奶", "奶奶", "爷爷", "阿爷", "阿嬷", "婆婆", "爷奶", "奶", "爷")],
    *[(w, "父亲") for w in ("父亲", "爸爸", "爸", "爹", "老爸", "亲爸")],
    *[(w, "母亲") for w in ("母亲", "妈妈", "妈", "娘", "老妈", "亲妈")],
    *[(w, "其他亲属") for w in ("其他亲属", "亲属", "亲戚", "姑姑", "姑妈", "舅舅", "舅妈", "叔叔", "婶婶", "伯伯", "伯母",
                             "大伯", "姨妈", "小姨", "阿姨", "姐姐", "哥哥", "堂哥", "表哥", "表姐", "堂姐",
                             "姑", "舅", "叔", "婶", "姨")],
    *[(w, "其他监护人") for w in ("其他监护人", "监护人", "邻居", "村委会", "居委会", "民政")],
]
_LEAD = re.compile(r"^(我是|俺是|我|俺|是)?(孩子|娃|他|她|娃娃|小孩)?(的)?")


def relation(text: str) -> str | None:
    """The relation named by a short answer, or None."""
    t = _LEAD.sub("", bare(text))
    for word, rel in RELATION_WORDS:
        if t == word:
            return rel
    hits = {rel for word, rel in RELATION_WORDS if len(word) >= 2 and word in t}
    return hits.pop() if len(hits) == 1 else None


def carer(text: str) -> str | None:
    """Whom a child lives with, from "跟奶奶", "奶奶带着", "在外婆家": "relatives" / "family" / None."""
    return home_of(relation(re.sub(r"^(跟|和|同|在|住)(着|到)?|(一起)?(住|生活|过|带|养|照顾|家|那里|那儿|那边)+$", "",
                                   bare(text))))


def home_of(rel: str | None) -> str | None:
    """A child living with someone of this relation lives with "family" (a parent) or "relatives"."""
    if rel in ("祖父母", "外祖父母", "其他亲属"):
        return "relatives"
    if rel in ("父亲", "母亲"):
        return "family"
    return None
