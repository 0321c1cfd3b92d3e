"""Places in what people type.

- `place_phrase("户口在通化")` → "通化": the words around a place answer are dropped (户口在, 我们是…的,
  住在, 老家), so the place question stores a place and not a sentence.
- `find_place(text)` → (name as written, place node) of a place named inside a sentence.
- `resolve_place(text)` → the most specific place: where a city is named and the rest of the text
  is close to one of its districts ("重庆齐江" → 重庆市綦江区, not 重庆市).

The places themselves come from the policy packs (policy_kb.places); this module only reads text.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from rapidfuzz import fuzz

from policy_kb.loader import KnowledgeBase, load_kb
from policy_kb.places import PlaceMatch, place_index, strip_suffix, syllables
from zhtext.normal import normalise

LEAD = re.compile(r"^(孩子|娃|我们|我家|俺家|俺们|俺|我|咱们|咱)?(的)?(户口|户籍|老家|家|现在|目前|是|就|都|住|在|住在|落在|上在|"
                  r"属于|归|那边|这边)*(是|在|于)?")
TAIL = re.compile(r"(的人|人|的|那边|这边|那里|这里|那儿|这儿|那块|这块|一带|附近|的户口|户口|呢|啊|呀|吧|了|哦)+$")
_KB_BY_ID: dict[int, KnowledgeBase] = {}


def place_phrase(text: str) -> str:
    """The place words of a short answer: "户口在通化" → "通化", "我们是重庆綦江的" → "重庆綦江"."""
    t = normalise(text).strip("，,。.！!？?")
    core = TAIL.sub("", LEAD.sub("", t))
    return core or t


@functools.lru_cache(maxsize=4)
def _place_words(kb_id: int) -> list[tuple[str, Any]]:
    """Place names safe to look for inside a sentence: every name of a place that has a pack, and
    sub-places only with their suffix (太平街道, 綦江区), so that 太平 or 城南 alone do not count."""
    kb = _KB_BY_ID[kb_id]
    idx = place_index(kb)
    words: list[tuple[str, Any]] = []
    for alias, node in idx.by_alias.items():
        if alias.isascii():
            continue
        if node.packs or re.search(r"(镇|街道|区|县|市)$", alias) and len(alias) >= 3:
            words.append((alias, node))
    for node in idx.nodes.values():
        if node.packs:
            for p in node.pinyin:
                words.append(("".join(p), node))
    words.sort(key=lambda an: -len(an[0]))
    return words


def place_words(kb: KnowledgeBase | None = None) -> list[tuple[str, Any]]:
    kb = kb or load_kb()
    _KB_BY_ID[id(kb)] = kb
    return _place_words(id(kb))


def find_place(text: str, kb: KnowledgeBase | None = None) -> tuple[str, Any] | None:
    """(the name as written, place node) of a place named in free text, or None."""
    norm = normalise(text)
    letters = re.sub(r"[^a-z]", "", norm)
    for word, node in place_words(kb):
        hay = letters if word.isascii() else norm
        if word and word in hay:
            return word, node
    return None


def resolve_place(text: str, kb: KnowledgeBase | None = None) -> PlaceMatch:
    """The place a family's answer names, as specific as the text allows."""
    kb = kb or load_kb()
    idx = place_index(kb)
    phrase = place_phrase(text)
    match = idx.resolve(phrase)
    if match.node is None or match.how != "contains":
        return match
    # a city named with the rest close to one of its districts: 重庆齐江 → 綦江区
    norm = normalise(phrase)
    alias = max((a for a in match.node.aliases if a in norm), key=len, default="")
    rest = strip_suffix(norm.replace(alias, "", 1)) if alias else ""
    if len(rest) < 2:
        return match
    children = [n for n in idx.nodes.values() if n.parent == match.node.name]
    best, best_score = None, 0.0
    for node in children:
        char = max((fuzz.ratio(rest, a) for a in node.aliases), default=0)
        pin = max((fuzz.ratio(syllables(rest), p) for p in node.pinyin if len(p) == len(syllables(rest))), default=0)
        score = max(char, pin)
        if score > best_score:
            best, best_score = node, score
    if best is not None and best_score >= 88:
        return PlaceMatch(text, best, "fuzzy", best_score)
    return match
