"""Chinese text as the matcher sees it: normalised, everyday words rewritten as policy terms,
and in pinyin syllables.

- `normalise(text)`: NFKC (full-width → half-width), lower case, white space removed.
- `analyse(text)` → `Analysis`: the text rewritten with freetext/synonyms.yaml (longest word first,
  no overlaps; a contextual word such as 走了 only where nothing near it says otherwise), the policy
  concepts found, the characters left once punctuation and filler (请问, 吗, 呢 …) are dropped, and
  the syllables. Typed pinyin ("wenling gu er you duoshao qian") is split into syllables and
  rewritten with the same table in syllable space, so a pinyin question finds the same concepts.
- `syllables(text)`: pypinyin's lazy_pinyin with overrides for polyphones (重庆 → chong qing).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from datafile import read_yaml

HERE = Path(__file__).resolve().parent
SYNONYMS_FILE = HERE / "synonyms.yaml"

PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)  # after NFKC: any non-word character
CLAUSE_SPLIT = re.compile(r"[，。；！？,.;!?、\n…~～]+|但是|可是|不过|而且|然后")
FILLERS = ("我想问一下", "我想问问", "我想问", "想问一下", "想问问", "请问一下", "请问", "问一下", "问问",
           "你好", "您好", "麻烦你", "麻烦您", "麻烦", "谢谢你", "谢谢您", "谢谢", "打扰了", "打扰一下",
           "那个", "这个", "就是", "一下", "吗", "呢", "啊", "呀", "吧", "哦", "嘛", "哈", "咧", "噢", "喔",
           "嗯", "哎", "唉", "啦", "咯", "哟", "哇")
# pypinyin is right about most words; these are the names it may get wrong
# Homophone typos ("做牢" for 坐牢, "留首" for 留守, "去逝" for 去世) are caught in syllable space, on
# characters no dictionary word explained. These words are left out of that: a common word sounds
# like them (啥子 ~ 傻子, 登记 ~ 等级, 预约 ~ 渝悦, 一起 ~ 遗弃, 历史 ~ 离世, 事实 ~ 逝世, 接到 ~ 街道, 保安 ~ 报案,
# 出警 ~ 出境, 糊口 ~ 户口, 不住 ~ 补助, 欺负 ~ 起付, 心里 ~ 心理, 大伙 ~ 大火, 少了 ~ 烧了, 济南 ~ 急难,
# 星期 ~ 刑期 …). Nor is a run of characters that pypinyin knows as a word of its own.
HOMOPHONE_STOP = {"没了", "跑了", "死了", "傻子", "等级", "渝悦", "补差", "户口", "是指", "谁管", "医保", "报账",
                  "瞎子", "被打", "离世", "逝世", "牢里", "犯事", "被判", "急难", "大火", "烧了", "补助",
                  "资助", "起付", "心理", "街道", "报案", "遗弃", "出境", "智力", "视力", "一起领", "刑期",
                  "公示", "公开", "等级", "收入", "住房", "判了", "就学", "入学", "出狱"}
PINYIN_OVERRIDES = {"重庆": ("chong", "qing"), "綦江": ("qi", "jiang"), "门头沟": ("men", "tou", "gou"),
                    "通化": ("tong", "hua"), "温岭": ("wen", "ling"), "重病": ("zhong", "bing"),
                    "重残": ("zhong", "can"), "重度": ("zhong", "du"), "还有": ("hai", "you"),
                    "还剩": ("hai", "sheng"), "长期": ("chang", "qi")}


def normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def clauses(text: str) -> list[str]:
    """The clauses of a message: split at punctuation and at 但是/可是/而且 …"""
    return [c for c in CLAUSE_SPLIT.split(unicodedata.normalize("NFKC", text).lower()) if c.strip()]


# ----------------------------------------------------------------------------- synonym table


@dataclass
class Table:
    words: dict[str, str]  # surface word → canonical term (canonical terms and keywords map to themselves)
    contextual: list[tuple[str, str, tuple[str, ...]]]  # (word, term, unless-words)
    syllable_words: dict[tuple[str, ...], str]  # syllables of a word (2+ syllables) → term: typed pinyin
    homophone_words: dict[tuple[str, ...], str]  # the same less HOMOPHONE_STOP: Chinese typos
    broader: dict[str, list[str]]
    max_len: int
    max_syll: int
    concepts: set[str] = field(default_factory=set)


@functools.lru_cache(maxsize=1)
def table() -> Table:
    raw = read_yaml(SYNONYMS_FILE)
    words: dict[str, str] = {}
    for term, variants in raw["terms"].items():
        words[normalise(term)] = term
        for word in variants:
            words[normalise(str(word))] = term
    for kw in raw.get("keywords", []):
        words.setdefault(normalise(str(kw)), str(kw))
    contextual = [(normalise(c["word"]), c["term"], tuple(c.get("unless", []))) for c in raw.get("contextual", [])]
    syllable_words: dict[tuple[str, ...], str] = {}
    homophone_words: dict[tuple[str, ...], str] = {}
    for word, term in words.items():
        if not re.search(r"[\u4e00-\u9fff]", word):
            continue
        sy = syllables(word)
        if len(sy) >= 2:
            syllable_words.setdefault(sy, term)
            if word not in HOMOPHONE_STOP:
                homophone_words.setdefault(sy, term)
    broader = {str(k): [str(x) for x in v] for k, v in (raw.get("broader") or {}).items()}
    concepts = set(words.values()) | {t for _, t, _ in contextual} | {b for v in broader.values() for b in v}
    return Table(words=words, contextual=contextual, syllable_words=syllable_words,
                 homophone_words=homophone_words, broader=broader,
                 max_len=max(len(w) for w in words), max_syll=max(len(s) for s in syllable_words),
                 concepts=concepts)


# ----------------------------------------------------------------------------- pinyin


@functools.lru_cache(maxsize=1)
def _known_phrases() -> frozenset[str]:
    from pypinyin.phrases_dict import phrases_dict

    return frozenset(phrases_dict)


@functools.lru_cache(maxsize=1)
def valid_syllables() -> frozenset[str]:
    from pypinyin.pinyin_dict import pinyin_dict

    out: set[str] = set()
    for value in pinyin_dict.values():
        for p in value.split(","):
            plain = "".join(c for c in unicodedata.normalize("NFD", p) if not unicodedata.combining(c))
            plain = plain.replace("ü", "v")
            if plain.isalpha() and plain.isascii() and (len(plain) > 1 or plain in "aeo"):
                out.add(plain)
    out -= {"hm", "hng", "ng", "m", "n"}
    return frozenset(out)


def split_pinyin(letters: str) -> list[str] | None:
    """'wenlingguer' → ['wen', 'ling', 'gu', 'er'] (fewest syllables); None if impossible."""
    valid = valid_syllables()
    n = len(letters)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + 6) + 1):
            piece = letters[i:j]
            if piece in valid:
                cand = best[i] + [piece]
                if best[j] is None or len(cand) < len(best[j]):
                    best[j] = cand
    return best[n]


@functools.lru_cache(maxsize=50000)
def syllables(text: str) -> tuple[str, ...]:
    """Syllables of Chinese characters (with the overrides) and of typed pinyin; other characters
    (digits, punctuation) are dropped."""
    from pypinyin import Style, lazy_pinyin  # loaded on first use: 0.3 s a command that never needs it skips

    out: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[a-zü]+", text.lower()):
        if run.isascii():
            out += split_pinyin(run) or []
            continue
        i = 0
        while i < len(run):
            for name, sy in PINYIN_OVERRIDES.items():
                if run.startswith(name, i):
                    out += sy
                    i += len(name)
                    break
            else:
                j = i
                while j < len(run) and not any(run.startswith(name, j) for name in PINYIN_OVERRIDES):
                    j += 1
                out += lazy_pinyin(run[i:j], style=Style.NORMAL, errors="ignore")
                i = j
    return tuple(out)


# ----------------------------------------------------------------------------- analysis


@dataclass
class Analysis:
    text: str  # normalised input
    rewritten: str  # with canonical terms, punctuation and filler removed
    concepts: list[str]  # canonical terms and keywords found, in order
    syllables: tuple[str, ...]  # of the rewritten text (pinyin input: rewritten in syllable space)
    pinyin_input: bool


def _strip_fillers(chunk: str) -> str:
    for filler in FILLERS:
        chunk = chunk.replace(filler, "")
    return chunk


def _apply_contextual(text: str, tab: Table) -> str:
    """Replace contextual words whose clause holds none of their unless-words."""
    if not tab.contextual:
        return text
    parts = re.split(r"([，。；！？,.;!?、\n]+)", text)
    for i, part in enumerate(parts):
        for word, term, unless in tab.contextual:
            if word in part and not any(u in part for u in unless):
                parts[i] = part = part.replace(word, term)
    return "".join(parts)


def _rewrite_chars(text: str, tab: Table) -> tuple[list[tuple[str, str]], list[str]]:
    """Greedy longest match: tokens ('T', term) or ('C', char)."""
    tokens: list[tuple[str, str]] = []
    concepts: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        for length in range(min(tab.max_len, n - i), 0, -1):
            term = tab.words.get(text[i:i + length])
            if term is not None:
                tokens.append(("T", term))
                concepts.append(term)
                i += length
                break
        else:
            tokens.append(("C", text[i]))
            i += 1
    return _homophones(tokens, concepts, tab), concepts


def _homophones(tokens: list[tuple[str, str]], concepts: list[str], tab: Table) -> list[tuple[str, str]]:
    """Runs of unexplained Chinese characters that sound like a dictionary word become that word."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j][0] == "C" and "\u4e00" <= tokens[j][1] <= "\u9fff":
            j += 1
        if j - i < 2:
            out.append(tokens[i])
            i += 1
            continue
        run = "".join(v for _, v in tokens[i:j])
        sy = list(syllables(run))
        if len(sy) != len(run):  # one syllable per character, whatever pypinyin made of the run
            sy = [(syllables(ch) or ("?",))[0] for ch in run]
        k = 0
        while k < len(run):
            for length in range(min(tab.max_syll, len(run) - k), 1, -1):
                term = tab.homophone_words.get(tuple(sy[k:k + length]))
                if term is not None and run[k:k + length] in _known_phrases():
                    term = None  # a real word, not a typo
                if term is not None:
                    out.append(("T", term))
                    concepts.append(term)
                    k += length
                    break
            else:
                out.append(("C", run[k]))
                k += 1
        i = j
    return out


def _rewrite_syllables(sylls: tuple[str, ...], tab: Table) -> tuple[list[str], list[str]]:
    out: list[str] = []
    concepts: list[str] = []
    i = 0
    while i < len(sylls):
        for length in range(min(tab.max_syll, len(sylls) - i), 1, -1):
            term = tab.syllable_words.get(tuple(sylls[i:i + length]))
            if term is not None:
                concepts.append(term)
                out += syllables(term)
                i += length
                break
        else:
            out.append(sylls[i])
            i += 1
    return out, concepts


def analyse(text: str) -> Analysis:
    tab = table()
    raw = _apply_contextual(unicodedata.normalize("NFKC", text).lower(), tab)
    rewritten_parts: list[str] = []
    sylls: list[str] = []
    concepts: list[str] = []
    pinyin_input = False
    # latin letters (with spaces or apostrophes between them) are read as typed pinyin
    for k, piece in enumerate(re.split(r"([a-z\u00fc][a-z\u00fc' ]*)", raw)):
        if not piece:
            continue
        if k % 2 == 1:
            collected: list[str] = []

            def flush() -> None:
                out, found = _rewrite_syllables(tuple(collected), tab)
                concepts.extend(found)
                rewritten_parts.extend(found)  # the policy terms found, as characters
                sylls.extend(out)
                collected.clear()

            for word in re.split(r"[ ']+", piece):
                if not word:
                    continue
                if word in tab.words:  # hiv, …
                    flush()
                    term = tab.words[word]
                    concepts.append(term)
                    rewritten_parts.append(term)
                    sylls.extend(syllables(term))
                    continue
                parts = split_pinyin(word)
                if parts:
                    collected += parts
                    pinyin_input = pinyin_input or len(collected) >= 2
            flush()
            continue
        piece = "".join(piece.split())
        tokens, found = _rewrite_chars(piece, tab)
        concepts += found
        chunk: list[str] = []
        local: list[str] = []
        for kind, value in tokens:
            if kind == "T":
                if chunk:
                    local.append(_strip_fillers("".join(chunk)))
                    chunk = []
                local.append(value)
            else:
                chunk.append(value)
        if chunk:
            local.append(_strip_fillers("".join(chunk)))
        cleaned = PUNCT.sub("", "".join(local))
        rewritten_parts.append(cleaned)
        sylls += syllables(cleaned)
    rewritten = PUNCT.sub("", "".join(rewritten_parts))
    for concept in list(concepts):
        for wider in tab.broader.get(concept, []):
            if wider not in concepts:
                concepts.append(wider)
    return Analysis(text=normalise(text), rewritten=rewritten, concepts=concepts,
                    syllables=tuple(sylls), pinyin_input=pinyin_input)
