"""Yes, no and negation as people type them: 是/对/嗯/有/没错/是的 → yes; 不是/没有/没/不/否/无 → no.

`polarity(text)` reads a short answer as a whole ("对的", "嗯嗯", "没有啊" , "不是的") and returns
True, False, or None when the text is not a plain yes or no. `negated(text, pos)` says whether the
word at `pos` is negated by what stands just before it ("不是低保户", "没有坐牢", "没被打").
"""

from __future__ import annotations

import re

from zhtext.normal import bare

YES = ("是", "是的", "是啊", "对", "对的", "对啊", "嗯", "嗯嗯", "恩", "恩恩", "有", "有的", "有啊", "没错", "对头",
       "就是", "是滴", "是呀", "对呀", "好", "行", "可以", "yes", "y", "ok", "确实", "当然", "肯定", "就是的",
       "是嘞", "要得", "中", "嗯呐", "嗯哪", "是哦", "对哦", "有哦", "有呢", "是呢", "在", "在的")
NO = ("不是", "不是的", "不", "没有", "没", "没得", "无", "否", "不对", "没有的", "都没有", "都不是", "没呢",
      "还没有", "还没", "没有呢", "不有", "冇", "冇得", "莫得", "么得", "木有", "没有没有", "不是不是", "no", "n",
      "都没", "一个都没有", "啥都没有", "什么都没有", "没这回事", "没这事", "不在", "不算", "不会")
NEGATION_BEFORE = re.compile(r"(没有|没|不是|并非|并没有|并没|未|不|无|非|不曾|从没|从来没|从来没有|没被|不再)$")


def polarity(text: str) -> bool | None:
    """True for a plain yes, False for a plain no, None otherwise."""
    t = bare(text)
    t = re.sub(r"^(嗯|恩|哦|噢)(?=[^嗯恩])", "", t) or t  # "嗯，是的" → "是的"
    t = t.strip("，,")
    if t in YES or re.fullmatch(r"(是|对|嗯|恩|有)+", t):
        return True
    if t in NO or re.fullmatch(r"(不是|没有|没|不)+", t):
        return False
    return None


def negated(text: str, pos: int) -> bool:
    """The word starting at `pos` is negated by the few characters before it."""
    before = text[max(0, pos - 4):pos]
    return bool(NEGATION_BEFORE.search(before)) or bool(re.search(r"(没有|没|不是|不)[^，。,.]?$", before[-2:]))
