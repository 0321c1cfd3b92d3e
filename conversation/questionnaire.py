"""The interview as data (policy_kb/questionnaire.yaml) and the rules that walk it.

Answers, not facts, are the conversation's record: `state["answers"][qid] = {"label", "set"}`, where
`set` maps absolute fact paths to values.  The facts are rebuilt from the answers in the order they
were given, so going back or changing an answer from the summary never leaves a stale fact behind
(a father changed from 服刑 to 已去世 loses his remaining term).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from conversation import answers
from datafile import read_yaml

QUESTIONNAIRE = Path(__file__).resolve().parent.parent / "policy_kb" / "questionnaire.yaml"
UNSURE = answers.UNSURE
UNSURE_WORDS = answers.UNSURE_WORDS


REQUIRED = ("id", "kind", "sets", "prompt", "why", "short")
KINDS = ("place", "choice", "age", "months", "disability", "disability_child")


def load_questions(path: Path = QUESTIONNAIRE) -> list[dict[str, Any]]:
    """The questions, checked on load: a mistake names the question and the key."""
    return checked(read_yaml(path)["questions"], path.name)


def checked(questions: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    for i, q in enumerate(questions):
        where = f"{name}: questions[{i}] ({q.get('id', '?')})"
        for key in REQUIRED:
            if not q.get(key):
                raise ValueError(f"{where}: missing '{key}'")
        if q["kind"] not in KINDS:
            raise ValueError(f"{where}: kind '{q['kind']}' is not one of {', '.join(KINDS)}")
        if q["kind"] == "choice" and not q.get("choices"):
            raise ValueError(f"{where}: a choice question needs 'choices'")
    for q in questions:
        for c in q.get("choices", []):
            if isinstance(c.get("polar"), bool):  # YAML reads a bare yes/no as a boolean
                c["polar"] = "yes" if c["polar"] else "no"
    for q in questions:  # every choice question can be left open: unknown is not false
        if q["kind"] == "choice" and not any(c["set"] == {} for c in q["choices"]):
            q["choices"] = [*q["choices"], dict(UNSURE)]
    return questions


_DATA = read_yaml(QUESTIONNAIRE)  # read once: the questions, and the identity fields of filing
QUESTIONS = checked(_DATA["questions"], QUESTIONNAIRE.name)
FILING = _DATA["filing"]
BY_ID = {q["id"]: q for q in QUESTIONS}


def set_fact(facts: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    cur = facts
    for part in parts[:-1]:
        if not isinstance(cur.get(part), dict):
            cur[part] = {}
        cur = cur[part]
    cur[parts[-1]] = value


def get_fact(facts: dict[str, Any], path: str, default: Any = None) -> Any:
    cur: Any = facts
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def relevant(q: dict[str, Any], facts: dict[str, Any], answers: dict[str, Any]) -> bool:
    if q.get("rest_of") and not named_one(BY_ID[q["rest_of"]], answers.get(q["rest_of"])):
        return False
    return _holds(q.get("ask_if"), q, facts, answers)


def named_one(gate: dict[str, Any], answer: dict[str, Any] | None) -> bool:
    """The gate was answered with one specific choice (not 都没有, 不确定 or 一项一项问我)."""
    if not answer:
        return False
    choice = next((c for c in gate.get("choices", []) if c["label"] == answer["label"]), None)
    return bool(choice and choice["set"] and not choice.get("ask_each") and choice.get("polar") != "no")


def _holds(cond: dict[str, Any] | None, q: dict[str, Any], facts: dict[str, Any], answers: dict[str, Any]) -> bool:
    if not cond:
        return True
    if "all" in cond:
        return all(_holds(c, q, facts, answers) for c in cond["all"])
    if "gate_not" in cond:  # skipped when the gate question got one of these answers
        return not any(answers.get(gate, {}).get("label") in labels for gate, labels in cond["gate_not"].items())
    if "parents_situation" in cond:
        spec = cond["parents_situation"]
        return bool(set(get_fact(facts, f"{spec['role']}.situations", []) or []) & set(spec["any"]))
    if "parents_situation_not" in cond:
        spec = cond["parents_situation_not"]
        return not set(get_fact(facts, f"{spec['role']}.situations", []) or []) & set(spec["any"])
    if "fact_is" in cond:
        return all(get_fact(facts, path, _MISSING) == value for path, value in cond["fact_is"].items())
    if "fact_present" in cond:
        return isinstance(get_fact(facts, cond["fact_present"]), dict)
    raise ValueError(f"questionnaire.yaml: question {q['id']}: unknown ask_if {cond}")


def rebuild(state: dict[str, Any]) -> dict[str, Any]:
    """Facts from the answers, in order; an answer whose question no longer applies is dropped."""
    facts: dict[str, Any] = {}
    kept = []
    for qid in state["asked"]:
        q = BY_ID.get(qid)
        if q is not None and not relevant(q, facts, {k: state["answers"][k] for k in kept}):
            continue
        kept.append(qid)
        for path, value in state["answers"][qid]["set"].items():
            if q is not None and q.get("rest_of") and _known(facts, path):
                continue  # "the rest": what the gate's own answer said stands
            set_fact(facts, path, copy.deepcopy(value) if isinstance(value, (dict, list)) else value)
    state["asked"] = kept
    return facts


@functools.lru_cache(maxsize=4096)
def _touches_fact(qid: str, fact: str) -> bool:
    return any(fact == s or fact.startswith(s + ".") or s.startswith(fact + ".") for s in BY_ID[qid]["sets"])


def _known(facts: dict[str, Any], path: str) -> bool:
    return get_fact(facts, path, _MISSING) is not _MISSING


_MISSING = object()
GATES = {q["id"]: [d["id"] for d in QUESTIONS if q["id"] in ((d.get("ask_if") or {}).get("gate_not") or {})
                   or any(q["id"] in (c.get("gate_not") or {}) for c in (d.get("ask_if") or {}).get("all", []))]
         for q in QUESTIONS}
GATES = {k: v for k, v in GATES.items() if v}


@functools.lru_cache(maxsize=1024)
def _askers(fact: str) -> tuple[str, ...]:
    """The questions whose answer sets this fact (or a part of it, or a fact it is part of)."""
    return tuple(q["id"] for q in QUESTIONS if _touches_fact(q["id"], fact))


def _gains(missing: dict[str, list[str]]) -> dict[str, set[str]]:
    """Per question, what its missing facts could add (`missing_facts[].could_add`)."""
    gained: dict[str, set[str]] = {}
    for fact, could_add in missing.items():
        for qid in _askers(fact):
            gained.setdefault(qid, set()).update(could_add)
    return gained


def impact(q: dict[str, Any], missing: dict[str, list[str]], categories: set[str],
           gains: dict[str, set[str]] | None = None) -> tuple[int, int]:
    """How much the answer can still change this family's result, read off the packs by `screen`:
    the categories, then the other entitlements, that the question's missing facts could add
    (`missing_facts[].could_add`). A category counts before any number of entitlements."""
    gained = (gains if gains is not None else _gains(missing)).get(q["id"], set())
    return len(gained & categories), len(gained - categories)


def open_questions(state: dict[str, Any], facts: dict[str, Any], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The questions still worth asking, most telling first: the place and safety first, then only
    those that set a fact the result still lists as missing (it could change the answer), ordered
    by how many categories and entitlements their answer could still add — read off the packs by
    `screen`, not a hand-made order. A question whose facts are all known (from a story, a gate or
    an earlier answer) is not asked; a gate whose facts are partly known gives way to its details;
    safety is asked once, and not when it is already known."""
    if "region" not in state["answers"]:
        out = [BY_ID["region"]]
        if not _safety_known(state, facts):
            out.append(BY_ID["safety"])
        return out
    out = [] if _safety_known(state, facts) else [BY_ID["safety"]]
    missing = {m["fact"]: m.get("could_add", []) for m in (result or {}).get("missing_facts", [])}
    missing = {m: v for m, v in missing.items() if not _known(facts, m)}
    categories = {c["name"] for c in (result or {}).get("possible_categories", [])}
    gains = _gains(missing)  # also: which questions touch a missing fact
    ranked = []
    waiting = set()  # details whose gate is still to be asked
    closed = set()  # details of a gate that does not apply (its own gate said 不确定)
    asked = set(state["asked"])
    for order, q in enumerate(QUESTIONS):
        qid = q["id"]
        if qid in GATES and qid not in asked and not q.get("rest_of") and _gated_off(q, state["answers"]):
            closed |= set(GATES[qid])
        if qid in asked or qid in ("region", "safety") or qid in closed:
            continue
        if qid not in gains and not (q.get("always") and not any(_known(facts, p) for p in q["sets"])):
            continue  # nothing it sets could change the result (checked first: the cheapest)
        if not relevant(q, facts, state["answers"]) or _too_young(q, facts):
            continue
        if q.get("rest_of"):
            if sum(not _known(facts, p) for p in q["sets"]) < 2:
                continue  # one left: its own question
            waiting |= set(GATES[qid])
        elif qid in GATES:
            if any(_known(facts, p) for p in q["sets"]):
                continue  # partly known: ask its details, not the gate again
            waiting |= set(GATES[qid])
        follow_up = bool(q.get("ask_if")) and not qid in _DETAIL
        follow_up = follow_up or q.get("follows") in asked  # the other parent right after the first
        cats, ents = impact(q, missing, categories, gains)
        ranked.append((0, 0, 0, order, q) if follow_up else (1, -cats, -ents, order, q))  # follow-ups in order
    ranked.sort(key=lambda r: r[:4])
    return out + [r[4] for r in ranked if r[4]["id"] not in waiting]


_DETAIL = {d for ds in GATES.values() for d in ds}


@functools.lru_cache(maxsize=None)
def closing(gate: str) -> frozenset[str]:
    """The gate's answers that close its details (a detail's `gate_not` names them)."""
    labels: set[str] = set()
    for d in GATES.get(gate, []):
        cond = BY_ID[d].get("ask_if") or {}
        for c in (cond, *cond.get("all", [])):
            labels.update((c.get("gate_not") or {}).get(gate, []))
    return frozenset(labels)


def _gated_off(q: dict[str, Any], answers: dict[str, Any]) -> bool:
    """A gate that its own gate closed (that one said 不确定): its details are closed too. A gate
    skipped for another reason (父母有没有残疾 with one parent gone) leaves its details to be asked."""
    cond = q.get("ask_if") or {}
    conds = [cond, *cond.get("all", [])]
    return any("gate_not" in c and not _holds(c, q, {}, answers) for c in conds)


def _too_young(q: dict[str, Any], facts: dict[str, Any]) -> bool:
    """`from_age`: not asked of a child known to be younger (nobody asks whether a baby goes to school)."""
    age = get_fact(facts, "child.age")
    return "from_age" in q and isinstance(age, int) and age < q["from_age"]


def _safety_known(state: dict[str, Any], facts: dict[str, Any]) -> bool:
    return "safety" in state["asked"] or any(
        get_fact(facts, f"safety.{k}") is not None for k in ("abused", "neglected", "abandoned"))


def choice_answer(q: dict[str, Any], index: int) -> dict[str, Any] | None:
    return answers.choice_answer(q, index)


def parse_answer(q: dict[str, Any], text: str, *, place: str | None = None,
                 resolve=None) -> tuple[dict[str, Any] | None, str | None]:
    """Typed text → (answer, None), or (None, the template of a kind message saying what to type).
    (conversation/answers.py `understand` also gives a clarifying question.)"""
    understood = answers.understand(q, text, place=place, resolve=resolve)
    if understood.answer is not None:
        return understood.answer, None
    return None, understood.error or "clarify"
