"""The interview as data (policy_kb/questionnaire.yaml) and the rules that walk it.

Answers, not facts, are the conversation's record: `state["answers"][qid] = {"label", "set"}`, where
`set` maps absolute fact paths to values.  The facts are rebuilt from the answers in the order they
were given, so going back or changing an answer from the summary never leaves a stale fact behind
(a father changed from 服刑 to 已去世 loses his remaining term).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from zhtext.numbers import parse_age, parse_disability, parse_months

QUESTIONNAIRE = Path(__file__).resolve().parent.parent / "policy_kb" / "questionnaire.yaml"
UNSURE = {"label": "不确定", "set": {}}
UNSURE_WORDS = ("不确定", "不知道", "不清楚", "不想说", "跳过", "不晓得")


REQUIRED = ("id", "kind", "sets", "prompt", "why", "short")
KINDS = ("place", "choice", "age", "months", "disability", "disability_child")


def load_questions(path: Path = QUESTIONNAIRE) -> list[dict[str, Any]]:
    """The questions, checked on load: a mistake names the question and the key."""
    questions = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    for i, q in enumerate(questions):
        where = f"{path.name}: questions[{i}] ({q.get('id', '?')})"
        for key in REQUIRED:
            if not q.get(key):
                raise ValueError(f"{where}: missing '{key}'")
        if q["kind"] not in KINDS:
            raise ValueError(f"{where}: kind '{q['kind']}' is not one of {', '.join(KINDS)}")
        if q["kind"] == "choice" and not q.get("choices"):
            raise ValueError(f"{where}: a choice question needs 'choices'")
    for q in questions:  # every choice question can be left open: unknown is not false
        if q["kind"] == "choice" and not any(c["set"] == {} for c in q["choices"]):
            q["choices"] = [*q["choices"], dict(UNSURE)]
    return questions


QUESTIONS = load_questions()
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
    return _holds(q.get("ask_if"), q, facts, answers)


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
            set_fact(facts, path, copy.deepcopy(value))
    state["asked"] = kept
    return facts


def touches(q: dict[str, Any], missing: list[str]) -> bool:
    return any(m == s or m.startswith(s + ".") or s.startswith(m + ".") for s in q["sets"] for m in missing)


def open_questions(state: dict[str, Any], facts: dict[str, Any], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The questions still worth asking, in questionnaire order: region and safety always, then only
    those that set a fact the result still lists as missing (it could change the answer)."""
    if "region" not in state["answers"]:
        return [BY_ID["region"], BY_ID["safety"]]
    out = [] if "safety" in state["asked"] else [BY_ID["safety"]]
    missing = [m["fact"] for m in (result or {}).get("missing_facts", [])]
    for q in QUESTIONS:
        if q["id"] in state["asked"] or q["id"] in ("region", "safety") or not relevant(q, facts, state["answers"]):
            continue
        if touches(q, missing):
            out.append(q)
    return out


def _prefix(q: dict[str, Any]) -> str:
    return q["sets"][0].split(".")[0] + "." if q["id"] in ("father", "mother") else ""


def choice_answer(q: dict[str, Any], index: int) -> dict[str, Any] | None:
    choices = q.get("choices", [])
    if not 0 <= index < len(choices):
        return None
    choice = choices[index]
    return {"label": choice["label"], "set": {_prefix(q) + p: v for p, v in choice["set"].items()}}


def _match_choice(q: dict[str, Any], text: str) -> int | None:
    choices = q.get("choices", [])
    if re.fullmatch(r"\d{1,2}", text):
        index = int(text) - 1
        return index if 0 <= index < len(choices) else None
    for i, c in enumerate(choices):
        if text == c["label"]:
            return i
    hits = [i for i, c in enumerate(choices) if text and (text in c["label"] or c["label"] in text)]
    return hits[0] if len(hits) == 1 else None


def parse_answer(q: dict[str, Any], text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Typed text → (answer, None), or (None, the template of a kind message saying what to type)."""
    text = text.strip()
    kind = q["kind"]
    if kind == "choice":
        index = _match_choice(q, text)
        if index is None and text in UNSURE_WORDS:
            return dict(UNSURE), None
        return (choice_answer(q, index), None) if index is not None else (None, "choice_invalid")
    if text in UNSURE_WORDS:
        return dict(UNSURE), None  # left unknown: unknown is not false
    target = q["sets"][0]
    if kind == "age":
        years = parse_age(text)
        return ({"label": f"{years}岁", "set": {target: years}}, None) if years is not None else (None, "age_invalid")
    if kind == "months":
        months = parse_months(text)
        return ({"label": text, "set": {target: months}}, None) if months is not None else (None, "months_invalid")
    if kind in ("disability", "disability_child"):
        parsed = parse_disability(text)
        if parsed is False:
            return None, "disability_invalid"
        return {"label": text, "set": {target: parsed}}, None
    raise ValueError(f"questionnaire.yaml: question {q['id']}: unknown kind {kind}")
