"""Answers from the knowledge base for a free-text question.

The index (built once, lazily) holds the question-and-answer entries of freetext/qa.yaml and the
knowledge base's own items — categories, entitlements, documents, procedures and hotlines of every
pack — each with the source that proves it. A question and every indexed text go through the same
analysis (freetext/text.py): normalised, everyday words rewritten as policy terms, pinyin.

Score of an entry, 0–1: per channel a cosine over IDF-weighted features, the channels averaged
with fixed weights over those the question has:
  concepts  the policy terms found (坐牢 → 服刑在押, 多少钱 → 补助标准, …)
  chars     character bigrams of the rewritten text (typos and word order do not break it)
  syllables pinyin syllable bigrams (homophones, typed pinyin)
  ratio     rapidfuzz fuzz.ratio on the rewritten strings (near-identical questions)
taken as 0.75 × the best of the entry's question variants + 0.25 × the entry's whole text.

Place: answers follow the family's place. `region` (as typed) or, failing it, a place named in
the question is resolved with policy_kb.places; then entries of other places are dropped, the
place's own packs come first and the national rules after (× NATIONAL_FACTOR). With no place,
local entries stay but count less (× UNPLACED_LOCAL_FACTOR) so the national rule comes first.

Below THRESHOLD the answer is "not sure": no answers, and whom to ask instead. THRESHOLD was
calibrated on tests/freetext/questions.yaml (see freetext/evaluate.py --calibrate).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from datafile import read_yaml
from freetext.text import Analysis, analyse, clauses, normalise
from policy_kb.loader import NATIONAL, KnowledgeBase, LoadedPack, load_kb
from policy_kb.places import place_index
from zhtext.places import find_place, place_words

QA_FILE = Path(__file__).resolve().parent / "qa.yaml"

THRESHOLD = 0.24
ANSWER_SHARE = 0.5  # a second or third answer is shown only if it scores at least half the first
CHANNEL_WEIGHTS = {"concepts": 0.40, "chars": 0.30, "syllables": 0.15, "ratio": 0.15}
VARIANT_SHARE = 0.75
NATIONAL_FACTOR = 0.92  # a place is known: its own rules come before the national ones
OLDER_LOCAL_FACTOR = 0.97  # 綦江 2017 after 重庆 2025
UNPLACED_LOCAL_FACTOR = 0.85  # no place known: a local rule counts less than the national one
KB_FACTOR = 0.92  # a written answer reads better than a knowledge-base item on the same point
# What a question asks for (its intent), in kinds: the process (how, where, what to bring, how
# long, whom to ask), money and eligibility, a telephone number, privacy. An entry's intents are
# those most of its question variants carry (knowledge-base documents are 申请材料, procedures
# 申请办理, hotlines 热线电话). When the question and the entry both ask something and of different
# kinds ("多少钱" against a list of documents), the entry counts less.
INTENT_KINDS = {"申请办理": "process", "申请材料": "process", "多长时间": "process", "找谁": "process",
                "补助标准": "money", "认定条件": "money", "有什么待遇": "money", "一起领": "money",
                "热线电话": "phone", "隐私": "privacy", "删除": "privacy"}
INTENTS = set(INTENT_KINDS)
KIND_INTENTS = {"document": {"申请材料"}, "procedure": {"申请办理"}, "hotline": {"热线电话"}}
INTENT_MISMATCH = 0.85
INTENT_WEIGHT = 0.5  # in the concept channel an intent counts less than a subject (服刑在押, 孤儿 …)
# every concept is worth this much more than its IDF alone: a general word such as 儿童 or 申请
# still says something, but much less than 服刑在押
GENERIC_CONCEPTS = {"儿童": 0.3, "父亲": 0.5, "母亲": 0.5, "父母": 0.5, "申请办理": 0.7}
# the concept channel counts in full only when the question's concepts weigh this much: a question
# whose only concept is 儿童 ("孩子感冒发烧吃什么药好") must not match on it
CONCEPT_REF = 2.0


# ----------------------------------------------------------------------------- the index


@dataclass
class Entry:
    id: str
    title: str
    text: str
    source: dict[str, Any]
    region: str | None  # pack id; None for national
    kind: str  # qa / category / entitlement / document / procedure / hotline
    variants: list[str]
    place: str
    analyses: list[Analysis] = field(default_factory=list)
    whole: Analysis | None = None
    intents: set[str] = field(default_factory=set)


def _pack_place(loaded: LoadedPack) -> str:
    return loaded.pack.places[0].short if loaded.pack.places else "全国"


def _source(src, loaded: LoadedPack) -> dict[str, Any]:
    out = {"document": src.document or loaded.pack.document, "clause": src.clause,
           "quote": " ".join(src.quote.split())}
    if src.grade:
        out["grade"] = src.grade
    return out


def _region_of(loaded: LoadedPack) -> str | None:
    return None if loaded.id == NATIONAL else loaded.id


def load_qa() -> list[dict[str, Any]]:
    return read_yaml(QA_FILE)["entries"]


def _qa_entries(kb: KnowledgeBase) -> list[Entry]:
    out = []
    for raw in load_qa():
        region = raw.get("region")
        place = _pack_place(kb.packs[region]) if region else "全国"
        out.append(Entry(id=raw["id"], title=raw["title"], text=raw["answer"].strip(),
                         source={k: v for k, v in raw["source"].items() if v is not None},
                         region=region, kind="qa", variants=[raw["title"], *raw["questions"]],
                         place=place))
    return out


def _kb_entries(kb: KnowledgeBase) -> list[Entry]:
    out: list[Entry] = []
    for loaded in kb.packs.values():
        pack = loaded.pack
        region, place = _region_of(loaded), _pack_place(loaded)

        def add(kind: str, item_id: str, title: str, text: str, src, variants: list[str]) -> None:
            out.append(Entry(id=f"kb:{loaded.id}:{kind}:{item_id}", title=title, text=text,
                             source=_source(src, loaded), region=region, kind=kind,
                             variants=[v for v in variants if v], place=place))

        for c in pack.categories:
            add("category", c.id, c.name, f"{c.name}：{c.summary}", c.source,
                [c.name, f"什么是{c.name}", c.summary])
        for e in pack.entitlements:
            text = e.detail
            if e.amount and normalise(e.amount.text) not in normalise(text):
                text = f"{text}（{e.amount.text}）"
            add("entitlement", e.id, e.name, f"{e.name}：{text}（{e.department}）", e.source,
                [e.name, e.detail])
        for d in pack.documents:
            add("document", d.id, d.name, f"{d.name}：{d.detail}。{d.why}。", d.source,
                [d.name, f"{d.name} {d.why}"])
        for pr in pack.procedures:
            steps = "；".join(s.text for s in pr.steps)
            if not pr.steps:
                continue
            add("procedure", pr.id, pr.name, f"{pr.name}：到{pr.office}。{steps}", pr.steps[0].source,
                [pr.name, f"{pr.name} {pr.office}"])
        for h in pack.hotlines:
            add("hotline", h.number, f"{h.number} {h.name}", f"{h.number}：{h.name}", h.source,
                [f"{h.number} {h.name}", h.name])
    return out


@dataclass
class Index:
    kb: KnowledgeBase
    entries: list[Entry]
    idf: dict[str, dict[str, float]]
    by_id: dict[str, Entry]


def _raw_features(a: Analysis) -> dict[str, Counter]:
    chars = a.rewritten
    grams = [chars[i:i + 2] for i in range(len(chars) - 1)] or ([chars] if chars else [])
    sy = a.syllables
    sgrams = [sy[i] + " " + sy[i + 1] for i in range(len(sy) - 1)] or list(sy)
    return {"concepts": Counter(set(a.concepts)), "chars": Counter(grams), "syllables": Counter(sgrams)}


def _vector(a: Analysis, idf: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for channel, counts in _raw_features(a).items():
        table = idf[channel]
        default = max(table.values()) if table else 1.0
        vec = {}
        for feat, n in counts.items():
            w = (1 + math.log(n)) * table.get(feat, default)
            if channel == "concepts":
                w *= GENERIC_CONCEPTS.get(feat, INTENT_WEIGHT if feat in INTENTS else 1.0)
            vec[feat] = w
        out[channel] = vec
    return out


def _cos(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(w * b.get(f, 0.0) for f, w in a.items())
    if not dot:
        return 0.0
    return dot / (math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values())))


@functools.lru_cache(maxsize=2)
def _index_for(kb_id: int) -> Index:  # keyed by id(kb); the KB itself is cached by load_kb
    from freetext import index_cache

    kb = _KB_BY_ID[kb_id]
    # from the cache file of this knowledge base and code when there is one (freetext/index_cache.py)
    entries, idf, splits = index_cache.load_or_build(kb.version, lambda: (*_build_index(kb), _SPLITS))
    _SPLITS.update(splits)
    return Index(kb=kb, entries=entries, idf=idf, by_id={e.id: e for e in entries})


def _build_index(kb: KnowledgeBase) -> tuple[list[Entry], dict[str, dict[str, float]]]:
    """The entries, analysed and with their vectors, and the IDF table."""
    entries = _qa_entries(kb) + _kb_entries(kb)
    for e in entries:
        e.analyses = [analyse(without_places(v, kb)) for v in e.variants]
        e.whole = analyse(without_places(" ".join(e.variants) + " " + e.text, kb))
        if e.kind in KIND_INTENTS:
            e.intents = set(KIND_INTENTS[e.kind])
        else:
            counts = Counter(i for a in e.analyses for i in set(a.concepts) & INTENTS)
            e.intents = {i for i, n in counts.items() if n * 2 >= len(e.analyses)}
    df: dict[str, Counter] = {"concepts": Counter(), "chars": Counter(), "syllables": Counter()}
    for e in entries:
        feats = _raw_features(e.whole)
        for channel, counts in feats.items():
            df[channel].update(set(counts))
    n = len(entries)
    idf = {ch: {f: math.log(1 + n / c) for f, c in counts.items()} for ch, counts in df.items()}
    for e in entries:
        e._vectors = [_vector(a, idf) for a in e.analyses]  # type: ignore[attr-defined]
        e._whole_vector = _vector(e.whole, idf)  # type: ignore[attr-defined]
    return entries, idf


_KB_BY_ID: dict[int, KnowledgeBase] = {}


def get_index(kb: KnowledgeBase | None = None) -> Index:
    kb = kb or load_kb()
    _KB_BY_ID[id(kb)] = kb
    return _index_for(id(kb))


# ----------------------------------------------------------------------------- places


def without_places(text: str, kb: KnowledgeBase) -> str:
    """The text less the names of places that have a pack: where a rule applies is settled by the
    region filter, so "温岭孤儿多少钱" and "孤儿多少钱" must match the same answers."""
    out = unicodedata.normalize("NFKC", text).lower()
    for word, _node in place_words(kb):
        if word.isascii():
            out = re.sub(rf"(?<![a-z]){word}(?![a-z])", " ", out)
            out = re.sub(r"(?<![a-z])" + " ?".join(_split_joined(word)) + r"(?![a-z])", " ", out)
        elif word in out:
            out = out.replace(word, "")
    return out


_SPLITS: dict[str, list[str]] = {}  # a place's pinyin name → its syllables; kept with the index (index_cache)


def _split_joined(word: str) -> list[str]:
    if word not in _SPLITS:  # splitting needs pypinyin's table of syllables: ~150 ms to build, once
        from freetext.text import split_pinyin

        _SPLITS[word] = split_pinyin(word) or [word]
    return _SPLITS[word]


@dataclass
class Place:
    name: str | None  # full name of the matched place
    packs: list[str]  # local packs, newest first (national not included)
    how: str  # given / text / none


def resolve_place(text: str, region: str | None, kb: KnowledgeBase) -> Place:
    idx = place_index(kb)
    node = None
    how = "none"
    if region:
        match = idx.resolve(region)
        node, how = match.node, "given"
    if node is None:
        found = find_place(text, kb)
        if found:
            node, how = found[1], "text"
    if node is None:
        return Place(None, [], "given" if region else "none")
    return Place(node.name, [p for p in idx.packs_for(node) if p != NATIONAL], how)


# ----------------------------------------------------------------------------- answering


def score_entry(q: dict[str, dict[str, float]], qa: Analysis, entry: Entry) -> float:
    channels = [ch for ch in ("concepts", "chars", "syllables") if q[ch]]
    if not channels:
        return 0.0
    weights = {ch: CHANNEL_WEIGHTS[ch] for ch in channels}
    if "concepts" in weights:
        mass = math.sqrt(sum(w * w for w in q["concepts"].values()))
        weights["concepts"] *= min(1.0, mass / CONCEPT_REF)
    use_ratio = bool(qa.rewritten)
    if use_ratio:
        weights["ratio"] = CHANNEL_WEIGHTS["ratio"]
    total = sum(weights.values())

    def combined(vec: dict[str, dict[str, float]], a: Analysis) -> float:
        s = sum(weights[ch] * _cos(q[ch], vec[ch]) for ch in channels)
        if use_ratio:
            if qa.pinyin_input:
                r = fuzz.ratio(qa.syllables, a.syllables) / 100
            else:
                r = fuzz.ratio(qa.rewritten, a.rewritten) / 100
            s += weights["ratio"] * r
        return s / total

    best = max(combined(v, a) for v, a in zip(entry._vectors, entry.analyses))  # type: ignore[attr-defined]
    whole = combined(entry._whole_vector, entry.whole)  # type: ignore[attr-defined]
    return VARIANT_SHARE * best + (1 - VARIANT_SHARE) * whole


def _quote_key(src: dict[str, Any]) -> str:
    return normalise(src.get("quote", ""))


def _same_point(a: Entry, b: Entry) -> bool:
    if a.source.get("document") != b.source.get("document"):
        return False
    qa, qb = _quote_key(a.source), _quote_key(b.source)
    return bool(qa and qb and (qa in qb or qb in qa))


def rank(text: str, *, region: str | None = None, kb: KnowledgeBase | None = None
         ) -> tuple[list[tuple[float, Entry]], Place]:
    """Every allowed entry with its score, best first (duplicates of one point removed)."""
    index = get_index(kb)
    place = resolve_place(text, region, index.kb)
    derived = situation_concepts(text)
    from freetext.danger import detect_danger

    if detect_danger(text):  # a danger word makes it a question about the child's safety
        derived.append("危险")
    queries = []  # (analysis, vector, factor): the whole message, and for a long one its parts
    for part, factor in _parts(text):
        a = analyse(without_places(part, index.kb))
        a.concepts = [*a.concepts, *(c for c in derived if c not in a.concepts)]
        queries.append((a, _vector(a, index.idf), factor))
    asked = {INTENT_KINDS[c] for c in queries[0][0].concepts if c in INTENT_KINDS}
    scored: list[tuple[float, Entry]] = []
    for entry in index.entries:
        factor = 1.0
        if entry.region is None:
            factor = NATIONAL_FACTOR if place.packs else 1.0
        elif place.packs:
            if entry.region not in place.packs:
                continue
            factor = 1.0 if entry.region == place.packs[0] else OLDER_LOCAL_FACTOR
        elif place.how == "given":  # a place outside the packs: national rules only
            continue
        else:
            factor = UNPLACED_LOCAL_FACTOR
        if entry.kind != "qa":
            factor *= KB_FACTOR
        if entry.intents and asked and not ({INTENT_KINDS[i] for i in entry.intents} & asked):
            factor *= INTENT_MISMATCH
        s = max(score_entry(q, a, entry) * f for a, q, f in queries) * factor
        if s > 0:
            scored.append((s, entry))
    scored.sort(key=lambda se: -se[0])
    kept: list[tuple[float, Entry]] = []
    for s, e in scored:
        if any(_same_point(e, k) or (e.title == k.title and e.text == k.text) for _, k in kept):
            continue
        kept.append((s, e))
        if len(kept) >= 20:
            break
    return kept, place


LONG_MESSAGE = 30  # characters: a longer message is also scored by its parts
PART_FACTOR = 0.95


def _parts(text: str) -> list[tuple[str, float]]:
    """The message itself; for a long, rambling one also each pair of neighbouring clauses, so that
    the question at its end is not drowned by the story before it."""
    parts = [(text, 1.0)]
    if len(normalise(text)) <= LONG_MESSAGE:
        return parts
    cl = clauses(text)
    if len(cl) < 3:
        return parts
    for i in range(len(cl)):
        parts.append(("，".join(cl[i:i + 2]), PART_FACTOR))
    return parts


def situation_concepts(text: str) -> list[str]:
    """Categories a told situation points to, as concepts: a family that writes "他爸车祸走了，他妈
    跑了联系不上" asks about 事实无人抚养儿童 without knowing the word."""
    from freetext.intake import propose_facts

    try:
        facts = propose_facts(text)
    except Exception:  # a question must be answered even if the situation cannot be read
        return []
    sits = {role: set((facts.get(role) or {}).get("situations", [])) for role in ("father", "mother")}
    gone = {"deceased", "missing_declared"}
    unable = {"incarcerated", "drug_rehab", "restricted", "unreachable", "serious_illness",
              "guardianship_revoked", "deported"}
    disabled = {role: bool((facts.get(role) or {}).get("disability")) for role in ("father", "mother")}
    out: list[str] = []
    f, m = sits["father"], sits["mother"]
    if f & (gone | {"unknown"}) and m & (gone | {"unknown"}):
        out.append("孤儿")
    elif (f & gone and (m & unable or disabled["mother"])) or (m & gone and (f & unable or disabled["father"])) \
            or ((f & unable or disabled["father"]) and (m & unable or disabled["mother"])):
        out.append("事实无人抚养儿童")
    if "works_away" in f and "works_away" in m:
        out.append("留守儿童")
    return out


def whom_to_ask(place: Place, kb: KnowledgeBase | None = None) -> str:
    """Whom to ask when the bot is not sure: the office of the place's general procedure."""
    kb = kb or load_kb()
    for pack_id in place.packs:
        for pr in kb.packs[pack_id].pack.procedures:
            if not pr.for_categories:
                return f"{pr.office}；也可以打12345政务服务热线问"
    return "孩子户籍所在地的乡镇人民政府（街道办事处）民政办，或村（居）的儿童主任；也可以打12345政务服务热线问"


def select_answers(ranked: list[tuple[float, Entry]], limit: int = 3) -> tuple[list[dict[str, Any]], bool]:
    """The answers to show from a ranking, and whether the bot is not sure (then none)."""
    not_sure = not ranked or ranked[0][0] < THRESHOLD
    answers: list[dict[str, Any]] = []
    if not_sure:
        return answers, True
    top = ranked[0][0]
    for s, e in ranked[:limit]:
        if s < THRESHOLD or s < top * ANSWER_SHARE:
            break
        answers.append({"id": e.id, "title": e.title, "text": e.text, "source": dict(e.source),
                        "score": round(s, 3), "place": e.place})
    return answers, False


def answer_question(text: str, *, region: str | None = None, limit: int = 3,
                    kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """{"answers": [{"id", "title", "text", "source": {document, clause, quote}, "score", "place"}],
    "not_sure": bool, "whom_to_ask": str, "place": full name or None}.

    At most `limit` answers; none when the best score is below THRESHOLD (then not_sure)."""
    kb = kb or load_kb()
    ranked, place = rank(text, region=region, kb=kb)
    answers, not_sure = select_answers(ranked, limit)
    return {"answers": answers, "not_sure": not_sure, "whom_to_ask": whom_to_ask(place, kb),
            "place": place.name}
