"""Places as people type them: "温岭", "浙江温岭市", "wenling", "北京门头沟", "通化县", "重庆綦江区",
typos and homophones ("温玲", "通话") resolve to the packs that govern them.

Order of trust: an exact name or alias; then the most specific known name contained in the text;
then fuzzy matching on characters and on pinyin syllables (rapidfuzz over sequences).  Below the
thresholds nothing matches: the caller falls back to the national baseline and says so.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from rapidfuzz import fuzz

from policy_kb.loader import NATIONAL, KnowledgeBase

SUFFIXES = ("特别行政区", "自治县", "自治州", "新区", "省", "市", "区", "县", "镇", "乡", "街道")
CHAR_THRESHOLD = 75  # fuzz.ratio on the characters of a name
PINYIN_THRESHOLD = 88  # fuzz.ratio on pinyin syllables (homophones, typed pinyin)
MIN_FUZZY_LEN = 2


@dataclass
class PlaceNode:
    name: str
    short: str
    packs: list[str] = field(default_factory=list)
    parent: str | None = None
    aliases: set[str] = field(default_factory=set)
    declared_pinyin: set[tuple[str, ...]] = field(default_factory=set)  # as the pack wrote it

    @cached_property
    def pinyin(self) -> set[tuple[str, ...]]:
        """The pack's pinyin, else the short name's: worked out on first use, since an exact or
        contained name (most answers) needs none and pypinyin takes 0.3 s to load."""
        return self.declared_pinyin or {syllables(self.short)}


@dataclass
class PlaceMatch:
    input: str
    node: PlaceNode | None
    how: str  # exact / contains / fuzzy / none
    score: float = 100.0
    candidates: list[str] = field(default_factory=list)  # other plausible full names


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s·,，。.、;；:：!！?？'\"“”‘’()（）\-_/]+", "", text)


def strip_suffix(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def syllables(text: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


class PlaceIndex:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.nodes: dict[str, PlaceNode] = {}
        for loaded in kb.packs.values():
            for place in loaded.pack.places:
                node = self._node(place.name, place.short, place.parent)
                node.packs.append(loaded.id)
                node.aliases |= {place.name, place.short, *place.aliases}
                node.declared_pinyin |= {tuple(p.split()) for p in place.pinyin}
                for inc in place.includes:
                    sub = self._node(place.name + inc, strip_suffix(inc), place.name)
                    sub.aliases |= {inc, place.short + inc, place.short + strip_suffix(inc)}
        self.by_alias: dict[str, PlaceNode] = {}
        declared: dict[str, PlaceNode] = {}  # names a pack wrote: they win over derived short forms
        for node in self.nodes.values():
            for alias in {normalise(a) for a in node.aliases | {node.name}}:
                if alias in declared and node.packs and not declared[alias].packs:
                    declared[alias] = node
                declared.setdefault(alias, node)
        for node in self.nodes.values():
            names = {normalise(a) for a in node.aliases | {node.name, node.short}}
            names |= {strip_suffix(n) for n in names}
            node.aliases = {n for n in names if len(n) >= MIN_FUZZY_LEN
                            and declared.get(n, node) is node}
            for alias in node.aliases:
                current = self.by_alias.get(alias)
                if current is None or self.depth(node) > self.depth(current):
                    self.by_alias[alias] = node

    @cached_property
    def _pinyin_joined(self) -> dict[str, PlaceNode]:
        return {"".join(p): node for node in self.nodes.values() for p in node.pinyin}

    def _node(self, name: str, short: str, parent: str | None) -> PlaceNode:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = PlaceNode(name=name, short=short, parent=parent)
        elif parent and not node.parent:
            node.parent = parent
        return node

    def depth(self, node: PlaceNode) -> int:
        depth = 0
        while node.parent and node.parent in self.nodes:
            node = self.nodes[node.parent]
            depth += 1
        return depth

    def packs_for(self, node: PlaceNode | None) -> list[str]:
        """Packs that govern the place: local ones newest first, the national baseline last."""
        ids: list[str] = []
        while node is not None:
            ids += [p for p in node.packs if p not in ids]
            node = self.nodes.get(node.parent) if node.parent else None
        ids.sort(key=lambda pid: self.kb.packs[pid].pack.date, reverse=True)
        return ids + [NATIONAL]

    def resolve(self, text: str) -> PlaceMatch:
        raw = text
        text = normalise(text)
        if not text:
            return PlaceMatch(raw, None, "none", 0)
        for candidate in (text, strip_suffix(text)):
            if candidate in self.by_alias:
                return PlaceMatch(raw, self.by_alias[candidate], "exact")
        contained = [(alias, node) for alias, node in self.by_alias.items() if alias in text]
        if contained:
            alias, node = max(contained, key=lambda an: (self.depth(an[1]), len(an[0])))
            return PlaceMatch(raw, node, "contains")
        return self._fuzzy(raw, text)

    def _fuzzy(self, raw: str, text: str) -> PlaceMatch:
        scored: list[tuple[float, PlaceNode]] = []
        if text.isascii():
            letters = re.sub(r"[^a-z]", "", text)
            for joined, node in self._pinyin_joined.items():
                best = max(fuzz.ratio(letters, joined), fuzz.ratio(letters, joined + "shi"),
                           fuzz.ratio(letters, joined + "qu"), fuzz.ratio(letters, joined + "xian"))
                scored.append((best, node))
            threshold = PINYIN_THRESHOLD
        else:
            core = strip_suffix(text)
            sylls = syllables(core)
            for node in self.nodes.values():
                char_score = max(fuzz.ratio(core, a) for a in node.aliases)
                pin_score = max(fuzz.ratio(sylls, p) for p in node.pinyin) if sylls else 0
                # a homophone counts only when the names are of the same length
                if not any(len(p) == len(sylls) for p in node.pinyin):
                    pin_score = min(pin_score, PINYIN_THRESHOLD - 1)
                scored.append((max(char_score if char_score >= CHAR_THRESHOLD else 0, pin_score), node))
            threshold = min(CHAR_THRESHOLD, PINYIN_THRESHOLD)
        scored.sort(key=lambda sn: (-sn[0], -self.depth(sn[1])))
        if scored and scored[0][0] >= threshold:
            top_score, node = scored[0]
            others = [n.name for s, n in scored[1:4] if s >= threshold and n is not node]
            return PlaceMatch(raw, node, "fuzzy", top_score, others)
        near = [n.name for s, n in scored[:3] if s >= 60]
        return PlaceMatch(raw, None, "none", scored[0][0] if scored else 0, near)


_INDEXES: dict[int, PlaceIndex] = {}


def place_index(kb: KnowledgeBase) -> PlaceIndex:
    index = _INDEXES.get(id(kb))
    if index is None or index.kb is not kb:
        index = _INDEXES[id(kb)] = PlaceIndex(kb)
    return index
