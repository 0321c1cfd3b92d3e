"""Facts → categories, entitlements, documents, procedure, near misses and missing facts.

The packs that govern the place are layered (policy_kb/places.py): local packs newest first,
the national baseline last.  For one `topic`, the first pack in that order that defines it
speaks; an older pack's item of the same topic is set aside, and where it would have applied
the result says which newer document replaced it.  Every item keeps the document it comes from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import clock
from policy_kb.conditions import All, Context, Node, Outcome, combine_all
from policy_kb.loader import NATIONAL, KnowledgeBase, LoadedPack, load_kb
from policy_kb.places import PlaceMatch, place_index
from policy_kb.schema import Amount, Source
from screening.facts import parse_facts

_CONDITIONS: dict[tuple[int, str, str], Node] = {}


def category_condition(kb: KnowledgeBase, loaded: LoadedPack, category_id: str) -> Node:
    """The category's own condition, ANDed with the pack's base where the category uses it."""
    key = (id(kb), loaded.id, category_id)
    node = _CONDITIONS.get(key)
    if node is None:
        cat = next(c for c in loaded.pack.categories if c.id == category_id)
        when = loaded.categories[category_id]
        node = All([loaded.base, when], None) if (cat.base and loaded.base) else when
        _CONDITIONS[key] = node
    return node


NATIONAL_LABEL = "国家政策要点（整理）"
GRADE_TEXT = {"T": "已核对国家文件全文", "P": "各地通行做法",
              "U": "未核实，以当地经办机构要求为准"}


def source_json(src: Source, loaded: LoadedPack) -> dict[str, Any]:
    """A citation. Quotes taken from the national baseline page (a summary, not the documents'
    text) are shown as 国家政策要点（整理）, naming the national document, with their grade."""
    national = loaded.id == NATIONAL or (src.document is not None and src.grade is not None)
    if national:
        named = src.document or (loaded.pack.document if src.clause == "总体框架" else "")
        out = {"document": NATIONAL_LABEL, "clause": " ".join(x for x in (named, src.clause) if x),
               "quote": " ".join(src.quote.split()), "national_document": named or None}
    else:
        out = {"document": src.document or loaded.pack.document, "clause": src.clause,
               "quote": " ".join(src.quote.split())}
    if src.grade:
        out["grade"] = src.grade
        out["grade_text"] = GRADE_TEXT[src.grade]
    return out


def derive(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts implied by others: a child given in months is 0 years old."""
    child = facts.get("child")
    if child and child.get("age") is None and child.get("age_months") is not None:
        facts = {**facts, "child": {**child, "age": 0}}
    return facts


@dataclass
class _Cat:
    loaded: LoadedPack
    id: str
    name: str
    topic: str
    outcome: Outcome
    base: Outcome | None
    when: Outcome
    visible: bool

    @property
    def key(self) -> str:
        return f"{self.loaded.id}:{self.id}"


def _amount(kb: KnowledgeBase, loaded: LoadedPack, amount: Amount,
            overrides: dict[str, float]) -> dict[str, Any]:
    pack = loaded.pack

    def annual(name: str) -> tuple[float | None, list[dict[str, Any]]]:
        if name in pack.parameters:
            param = pack.parameters[name]
            value = overrides.get(f"{loaded.id}.{name}", param.value)
            info = {"id": name, "label": param.label, "unit": param.unit, "value": value,
                    "year": param.year if name not in overrides else None}
            return value, [info]
        std = pack.standards[name]
        base, params = annual(std.of)
        return (None if base is None else base * std.factor), params

    out: dict[str, Any] = {"text": amount.text, "per_month": None, "parameters": []}
    if amount.floor_per_month is not None:
        out["floor_per_month"] = amount.floor_per_month
    if amount.fixed_per_month is not None:
        out["per_month"] = amount.fixed_per_month
    if amount.of:
        base, params = annual(amount.of)
        out["parameters"] = params
        if base is not None:
            per_month = base * (amount.factor or 1) / 12
            if amount.floor_per_month is not None:
                per_month = max(per_month, amount.floor_per_month)
            out["per_month"] = round(per_month, 2)
    return out


def screen(raw_facts: Any, kb: KnowledgeBase | None = None,
           parameters: dict[str, float] | None = None,
           today: dt.date | None = None) -> dict[str, Any]:
    """Screen one family. Raises FactsError on bad input."""
    kb = kb or load_kb()
    facts = derive(parse_facts(raw_facts))
    match = place_index(kb).resolve(facts["region"])
    stack = [kb.packs[pid] for pid in place_index(kb).packs_for(match.node)]
    result = _screen(kb, facts, match, stack, parameters or {})
    result["time_notes"] = time_notes(kb, facts, match, stack, parameters or {}, result,
                                      today or clock.today())
    return result


# ---- time: what changes, and when, for a fact near a threshold -------------------------------

def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return dt.date(year, month, min(day.day, last))


_THRESHOLDS: dict[tuple[int, str], set[int]] = {}


def _thresholds(kb: KnowledgeBase, path: str) -> set[int]:
    """The values of `path` at which some condition of the packs changes (cached per kb)."""
    key = (id(kb), path)
    if key not in _THRESHOLDS:
        _THRESHOLDS[key] = _find_thresholds(kb, path)
    return _THRESHOLDS[key]


def _find_thresholds(kb: KnowledgeBase, path: str) -> set[int]:
    from policy_kb.conditions import Fact, walk

    out: set[int] = set()
    for loaded in kb.packs.values():
        for node in [*loaded.categories.values(), *loaded.entitlements.values(),
                     *loaded.parent_definitions.values(), *loaded.definitions.values()]:
            for sub in walk(node) if node is not None else []:
                if isinstance(sub, Fact) and sub.path == path and sub.op in ("ge", "gt", "lt", "le"):
                    out.add(int(sub.arg) + (1 if sub.op in ("gt", "le") else 0))  # the first value on the far side
    return out


def _diff(now: dict[str, Any], later: dict[str, Any]) -> tuple[list[str], list[str], list[str], list[str]]:
    def cats(r: dict[str, Any]) -> list[str]:
        return [c["name"] for c in r["categories"]]

    def ents(r: dict[str, Any]) -> list[str]:
        return [e["name"] for e in r["entitlements"]]

    lost_c = [c for c in cats(now) if c not in cats(later)]
    new_c = [c for c in cats(later) if c not in cats(now)]
    lost_e = [e for e in ents(now) if e not in ents(later)]
    new_e = [e for e in ents(later) if e not in ents(now)]
    return lost_c, new_c, lost_e, new_e


def _change_text(lost_c, new_c, lost_e, new_e) -> str:
    parts = []
    if lost_c:
        parts.append("不再属于" + "、".join(f"「{c}」" for c in lost_c))
    if new_c:
        parts.append("可能属于" + "、".join(f"「{c}」" for c in new_c))
    if lost_e and not lost_c:
        parts.append("不再享受" + "、".join(lost_e[:3]) + ("等" if len(lost_e) > 3 else ""))
    if new_e and not new_c:
        parts.append("可以申请" + "、".join(new_e[:3]) + ("等" if len(new_e) > 3 else ""))
    return "，".join(parts)


def time_notes(kb: KnowledgeBase, facts: dict[str, Any], match: PlaceMatch, stack: list[LoadedPack],
               overrides: dict[str, float], now: dict[str, Any], today: dt.date) -> list[dict[str, Any]]:
    """Where a fact is near a threshold (a child's next birthday, a term still to serve, months
    out of contact), what the answer becomes then and from which date (kept in the filed record).

    The child's age is in whole years; `child.age_months` (months past the last birthday) makes
    the date exact, otherwise the change comes within the year."""
    notes: list[dict[str, Any]] = []

    def later(changed: dict[str, Any]) -> dict[str, Any]:
        return _screen(kb, changed, match, stack, overrides)

    child = facts.get("child") or {}
    age = child.get("age")
    if isinstance(age, int) and age < 30 and age + 1 in _thresholds(kb, "child.age"):
        future = {**facts, "child": {**child, "age": age + 1, "age_months": 0}}
        diff = _diff(now, later(future))
        text = _change_text(*diff)
        if text:
            months = child.get("age_months")
            when = _add_months(today, 12 - months) if isinstance(months, int) else None
            by = when or _add_months(today, 12)
            lead = f"孩子满{age + 1}周岁后（约{when.year}年{when.month}月起）" if when else \
                f"孩子满{age + 1}周岁后（一年之内，{by.year}年{by.month}月前）"
            notes.append({"fact": "child.age", "text": f"{lead}，{text}。",
                          "applies_from": when.isoformat() if when else None,
                          "applies_by": by.isoformat(), "categories_lost": diff[0],
                          "categories_gained": diff[1]})
    for role, who in (("father", "父亲"), ("mother", "母亲")):
        parent = facts.get(role)
        if not isinstance(parent, dict):
            continue
        term = parent.get("remaining_months")
        if isinstance(term, int):
            for limit in sorted(_thresholds(kb, "remaining_months"), reverse=True):
                if limit <= term <= limit + 11:  # within the year, less than `limit` is left
                    months = term - limit + 1
                    diff = _diff(now, later({**facts, role: {**parent, "remaining_months": limit - 1}}))
                    text = _change_text(*diff)
                    if text:
                        when = _add_months(today, months)
                        notes.append({"fact": f"{role}.remaining_months",
                                      "text": f"{who}剩余刑期（戒毒期）不足{limit}个月时（约{when.year}年{when.month}月起），{text}。",
                                      "applies_from": when.isoformat(), "applies_by": when.isoformat(),
                                      "categories_lost": diff[0], "categories_gained": diff[1]})
                        break
            least = min(_thresholds(kb, "remaining_months") or {0})
            held = set(parent.get("situations") or []) & {"incarcerated", "drug_rehab", "restricted"}
            if held and term < least:
                when = _add_months(today, term)
                notes.append({"fact": f"{role}.remaining_months",
                              "text": f"{who}剩余刑期（戒毒期）只有{term}个月，不足{least}个月，按这一条现在不符合；"
                                      f"约{when.year}年{when.month}月期满，家里情况有变化时，请再来问一问。",
                              "applies_from": when.isoformat(), "applies_by": when.isoformat(),
                              "categories_lost": [], "categories_gained": []})
        gone = parent.get("unreachable_months")
        if isinstance(gone, int):
            for limit in sorted(_thresholds(kb, "unreachable_months")):
                if gone < limit:
                    diff = _diff(now, later({**facts, role: {**parent, "unreachable_months": limit}}))
                    text = _change_text(*diff)
                    if text:
                        when = _add_months(today, limit - gone)
                        notes.append({"fact": f"{role}.unreachable_months",
                                      "text": f"{who}失联满{limit}个月时（约{when.year}年{when.month}月起），{text}"
                                              "（要先向公安机关报案）。",
                                      "applies_from": when.isoformat(), "applies_by": when.isoformat(),
                                      "categories_lost": diff[0], "categories_gained": diff[1]})
                        break
    return notes


def _screen(kb: KnowledgeBase, facts: dict[str, Any], match: PlaceMatch,
            stack: list[LoadedPack], overrides: dict[str, float]) -> dict[str, Any]:
    ctx = Context(kb.describe)
    notes: list[str] = []

    # categories, layered by topic
    cats: list[_Cat] = []
    topics: dict[str, LoadedPack] = {}
    for loaded in stack:
        for cat in loaded.pack.categories:
            when = loaded.categories[cat.id].evaluate(facts, ctx)
            base = loaded.base.evaluate(facts, ctx) if (cat.base and loaded.base) else None
            outcome = when if base is None else combine_all([base, when])  # = category_condition
            visible = cat.topic not in topics or topics[cat.topic] is loaded
            topics.setdefault(cat.topic, loaded)
            cats.append(_Cat(loaded, cat.id, cat.name, cat.topic, outcome, base, when, visible))
    by_key = {c.key: c for c in cats}

    def cat_json(c: _Cat) -> dict[str, Any]:
        spec = next(x for x in c.loaded.pack.categories if x.id == c.id)
        out = {"id": c.key, "name": c.name, "summary": spec.summary,
               "document": spec.source.document or c.loaded.pack.document,
               "source": source_json(spec.source, c.loaded)}
        if spec.definition_source:
            out["definition_source"] = source_json(spec.definition_source, c.loaded)
        return out

    categories, possible, near_misses = [], [], []
    missing: dict[str, dict[str, Any]] = {}
    assumptions: dict[str, list[str]] = {}  # what is assumed (not stated by the text) → categories
    for c in cats:
        if not c.visible:
            if c.outcome.value is True:
                newer = topics[c.topic]
                spec = next(x for x in c.loaded.pack.categories if x.id == c.id)
                older = spec.source.document or c.loaded.pack.document
                notes.append(f"{older}的「{c.name}」与{newer.pack.document}"
                             f"同属一类，以较新的{newer.pack.document}为准。")
            continue
        if c.outcome.value is True:
            item = cat_json(c)
            why = "，".join(dict.fromkeys(r for r in c.when.reasons if r))
            categories.append({**item, "why": why or item["summary"]})
        elif c.outcome.value is None:
            paths = sorted(dict.fromkeys(c.outcome.unknown))
            assumed = list(dict.fromkeys(c.outcome.assumed))
            possible.append({**cat_json(c), "missing": paths, "assumptions": assumed})
            for text in assumed:
                assumptions.setdefault(text, []).append(c.name)
            for path in paths:
                missing.setdefault(path, {"fact": path, "could_add": []})["could_add"].append(c.name)
        else:
            failure = _near_miss(c)
            if failure is not None:
                near_misses.append({**cat_json(c), "reason": failure[0], "would_change": failure[1]})

    true_keys = {c.key for c in cats if c.outcome.value is True}
    open_keys = {c.key for c in cats if c.outcome.value is None}

    def qualified(loaded: LoadedPack, cid: str) -> str:
        return cid if ":" in cid else f"{loaded.id}:{cid}"

    # entitlements, layered by topic: for one topic, the newest pack whose item applies to this
    # child speaks; an older item of that topic still applies where no newer one covers the child
    evaluated: list[tuple[LoadedPack, Any, bool, list[str], Outcome | None]] = []
    for loaded in stack:
        for ent in loaded.pack.entitlements:
            cat_keys = [qualified(loaded, cid) for cid in ent.for_categories]
            via = [by_key[k].name for k in cat_keys if k in true_keys]
            cats_ok: bool | None = True
            if cat_keys:
                cats_ok = True if via else (None if any(k in open_keys for k in cat_keys) else False)
            when_ok = loaded.entitlements[ent.id].evaluate(facts, ctx) if ent.when else None
            when_val = when_ok.value if when_ok is not None else True
            if cats_ok is False or when_val is False:
                continue
            if cats_ok is None or when_val is None:
                if cats_ok is True and when_ok is not None:
                    for path in dict.fromkeys(when_ok.unknown):
                        missing.setdefault(path, {"fact": path, "could_add": []})["could_add"].append(ent.name)
                continue
            evaluated.append((loaded, ent, True, via, when_ok))

    entitlements: list[dict[str, Any]] = []
    ent_topics: dict[str, LoadedPack] = {}
    applied: set[str] = set()
    for loaded, ent, _, via, when_ok in evaluated:
        owner = ent_topics.setdefault(ent.topic, loaded)
        if owner is not loaded:
            notes.append(f"{loaded.pack.document}规定的「{ent.name}」已由{owner.pack.document}"
                         f"的新规定替代，以新规定为准。")
            continue
        applied.add(f"{loaded.id}:{ent.id}")
        entitlements.append({
            "id": f"{loaded.id}:{ent.id}", "name": ent.name, "kind": ent.kind, "detail": ent.detail,
            "department": ent.department, "document": loaded.pack.document,
            "for": via, "because": "，".join(when_ok.reasons) if when_ok else "",
            "source": source_json(ent.source, loaded),
            "amount": _amount(kb, loaded, ent.amount, overrides) if ent.amount else None,
        })
        if ent.adult:
            entitlements[-1]["from_age"] = 18  # 成年后: for a child, help for later

    # a stacking rule names entitlements; where a local pack owns that topic, its item stands in.
    # Where a local text states how benefits combine, that governs: a national rule touching the
    # same entitlements is not shown beside it.
    topic_of = {f"{p.id}:{e.id}": e.topic for p in stack for e in p.pack.entitlements}
    own_rules = {p.id for p in stack if p.pack.stacking}
    stacking = []
    governed: set[str] = set()  # entitlements a local stacking rule speaks for
    for loaded in stack:
        for group in loaded.pack.stacking:
            members = [m if ":" in m else f"{loaded.id}:{m}" for m in group.members]
            member_topics = {topic_of[m] for m in members if m.startswith(loaded.id + ":")}
            # a pack that states its own stacking rules is not overruled by another pack's
            hits = [e for e in applied if e in members or (topic_of[e] in member_topics and (
                e.split(":")[0] == loaded.id or e.split(":")[0] not in own_rules))]
            anchor = f"{loaded.id}:{group.anchor}" if group.anchor else None
            if anchor and anchor not in hits:
                continue
            if loaded.id == NATIONAL and governed & set(hits):
                continue
            if (members and len(hits) >= 2) or (not members and applied and
                                                 any(e.startswith(loaded.id + ":") for e in applied)):
                if loaded.id != NATIONAL:
                    governed |= set(hits)
                names = [e["name"] for e in entitlements if e["id"] in hits]
                stacking.append({"rule": group.rule, "text": group.text, "applies_to": names,
                                 "document": loaded.pack.document,
                                 "source": source_json(group.source, loaded)})
                for e in entitlements:
                    if e["id"] in hits:
                        e.setdefault("stacking", []).append(group.rule)

    # documents, procedure
    anything = bool(categories or possible or entitlements)
    documents: list[dict[str, Any]] = []
    procedure: list[dict[str, Any]] = []
    if anything:
        seen_docs: set[str] = set()
        for loaded in stack:
            for doc in loaded.pack.documents:
                if doc.name in seen_docs:
                    continue
                cond = loaded.documents[doc.id]
                if cond is not None and cond.evaluate(facts, ctx).value is not True:
                    continue
                if doc.for_categories and not any(
                        qualified(loaded, c) in true_keys | open_keys for c in doc.for_categories):
                    continue
                seen_docs.add(doc.name)
                documents.append({"id": f"{loaded.id}:{doc.id}", "name": doc.name, "detail": doc.detail,
                                  "why": doc.why, "grade": doc.grade, "document": loaded.pack.document,
                                  "source": source_json(doc.source, loaded)})
        for loaded in stack:
            for proc in loaded.pack.procedures:
                keys = [qualified(loaded, c) for c in proc.for_categories]
                ent_keys = [f"{loaded.id}:{e}" for e in proc.for_entitlements]
                if ent_keys and not (set(ent_keys) & applied):
                    continue
                if keys and not any(k in true_keys | open_keys for k in keys):
                    continue
                procedure.append({
                    "id": f"{loaded.id}:{proc.id}", "name": proc.name, "office": proc.office,
                    "document": loaded.pack.document, "notes": proc.notes,
                    "steps": [{"text": s.text, "working_days": s.working_days, "grade": s.grade,
                               "source": source_json(s.source, loaded)} for s in proc.steps],
                })

    # safety
    urgent = False
    urgent_why: list[str] = []
    for loaded in stack:
        if loaded.urgent is not None:
            out = loaded.urgent.evaluate(facts, ctx)
            if out.value is True:
                urgent = True
                urgent_why += out.reasons
    hotlines: list[dict[str, Any]] = []
    seen_numbers: set[str] = set()
    for loaded in stack:
        for h in loaded.pack.hotlines:
            if h.number not in seen_numbers:
                seen_numbers.add(h.number)
                hotlines.append({"number": h.number, "name": h.name, "document": loaded.pack.document})
    hotlines.sort(key=lambda h: h["number"] != "110")

    local = [p for p in stack if p.id != NATIONAL]
    if not local:
        notes.insert(0, kb.national.pack.notes[0])
    for loaded in local:
        notes += loaded.pack.notes

    return {
        "region": {
            "input": match.input,
            "matched": match.node.name if match.node else None,
            "how": match.how,
            "candidates": match.candidates,
            "policies": [p.pack.document for p in local],
            "packs": [p.id for p in stack],
        },
        "urgent": urgent,
        "urgent_why": list(dict.fromkeys(urgent_why)),
        "hotlines": hotlines,
        "categories": categories,
        "possible_categories": possible,
        "near_misses": near_misses,
        "entitlements": entitlements,
        "stacking": stacking,
        "documents": documents,
        "procedure": procedure,
        "missing_facts": list(missing.values()),
        "assumptions": [{"text": t, "categories": names} for t, names in assumptions.items()],
        "notes": list(dict.fromkeys(notes)),
        "kb_version": kb.version,
    }


def _near_miss(c: _Cat) -> tuple[str, str] | None:
    """A category out of reach for one stated reason: (what the facts say, what would change it)."""
    if c.base is not None and c.base.value is False and c.when.value is True:
        failed = c.base.failed
    elif (c.base is None or c.base.value is not False) and c.when.value is False:
        if c.when.open_parts:
            return None  # other parts are still unknown: ask, do not announce a near miss
        failed = c.when.failed
    else:
        return None
    if len(failed) == 1 and failed[0].why_not:
        return failed[0].actual, failed[0].why_not
    return None
