"""The conversation engine: (state, input) → (new state, replies). It knows nothing of Telegram.

State is a plain JSON-able dict, so an adapter can keep it in the database and a restart — or
another process — continues where the user was.  Replies are template names with their context;
each adapter renders them (plain text for the console, HTML for Telegram).

The questionnaire is data (policy_kb/questionnaire.yaml).  After every answer the family is
screened again and the next question is the first one that sets a fact still listed among the
result's missing facts: nothing is asked that cannot change the answer, and the questions stop
when nothing left can.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conversation.parsing import parse_age, parse_disability, parse_months
from policy_kb.loader import load_kb
from policy_kb.places import place_index
from screening.engine import screen
from screening.facts import FactsError

QUESTIONNAIRE = Path(__file__).resolve().parent.parent / "policy_kb" / "questionnaire.yaml"
DANGER_WORDS = ("打我", "打他", "打她", "被打", "挨打", "虐待", "性侵", "猥亵", "强奸", "不给饭吃",
                "关起来", "一个人在家", "没人管", "离家出走", "拐卖", "想死", "自杀")
BACK_WORDS = ("返回", "上一步", "back")
RESTART_WORDS = ("/restart", "重新开始")
CANCEL_WORDS = ("/cancel", "取消")
UNSURE_WORDS = ("不确定", "不知道", "不清楚", "不想说", "跳过")


@dataclass
class Reply:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)


def load_questions() -> list[dict[str, Any]]:
    questions = yaml.safe_load(QUESTIONNAIRE.read_text(encoding="utf-8"))["questions"]
    for q in questions:  # every choice question can be left open: unknown is not false
        if q["kind"] == "choice" and not any(c["set"] == {} for c in q["choices"]):
            q["choices"] = [*q["choices"], {"label": "不确定", "set": {}}]
    return questions


QUESTIONS = load_questions()
BY_ID = {q["id"]: q for q in QUESTIONS}


def new_state() -> dict[str, Any]:
    return {"facts": {}, "asked": [], "history": [], "current": None, "done": False, "urgent": False}


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


def _relevant(q: dict[str, Any], facts: dict[str, Any]) -> bool:
    cond = q.get("ask_if")
    if not cond:
        return True
    if "parents_situation" in cond:
        spec = cond["parents_situation"]
        return bool(set(get_fact(facts, f"{spec['role']}.situations", []) or []) & set(spec["any"]))
    if "parents_situation_not" in cond:
        spec = cond["parents_situation_not"]
        return not set(get_fact(facts, f"{spec['role']}.situations", []) or []) & set(spec["any"])
    if "fact_present" in cond:
        return isinstance(get_fact(facts, cond["fact_present"]), dict)
    return True


def next_question(state: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any] | None:
    facts = state["facts"]
    if "region" not in facts:
        return BY_ID["region"]
    if "safety" not in state["asked"]:
        return BY_ID["safety"]
    missing = [m["fact"] for m in (result or {}).get("missing_facts", [])]
    for q in QUESTIONS:
        if q["id"] in state["asked"] or not _relevant(q, facts):
            continue
        if any(m == s or m.startswith(s + ".") or s.startswith(m + ".") for s in q["sets"] for m in missing):
            return q
    return None


def has_danger(text: str) -> bool:
    return any(word in text for word in DANGER_WORDS)


def ask(q: dict[str, Any], state: dict[str, Any]) -> Reply:
    total = len(state["asked"]) + 1 + _estimate_left(state)
    return Reply("question", {"prompt": q["prompt"], "why": q["why"], "step": len(state["asked"]) + 1,
                              "total": total, "can_go_back": bool(state["history"])},
                 [c["label"] for c in q.get("choices", [])])


def _estimate_left(state: dict[str, Any]) -> int:
    return max(2, 8 - len(state["asked"]))


def _apply_choice(q: dict[str, Any], choice: dict[str, Any], facts: dict[str, Any]) -> None:
    prefix = q["sets"][0].split(".")[0] + "." if q["id"] in ("father", "mother") else ""
    for path, value in choice["set"].items():
        set_fact(facts, prefix + path, copy.deepcopy(value))


def _match_choice(q: dict[str, Any], text: str) -> dict[str, Any] | None:
    choices = q.get("choices", [])
    text = text.strip()
    if re.fullmatch(r"\d{1,2}", text):
        index = int(text) - 1
        return choices[index] if 0 <= index < len(choices) else None
    for c in choices:
        if text == c["label"]:
            return c
    hits = [c for c in choices if text and (text in c["label"] or c["label"] in text)]
    return hits[0] if len(hits) == 1 else None


def answer(state: dict[str, Any], q: dict[str, Any], text: str) -> str | None:
    """Apply an answer; return an error message key when the answer cannot be understood."""
    facts = state["facts"]
    kind = q["kind"]
    if kind != "place" and text.strip() in UNSURE_WORDS:
        return None  # left unknown: unknown is not false
    if kind == "place":
        match = place_index(load_kb()).resolve(text)
        if not text.strip() or len(text) > 60:
            return "place_invalid"
        facts["region"] = text.strip()
        state["place_match"] = match.node.name if match.node else None
    elif kind == "choice":
        choice = _match_choice(q, text)
        if choice is None:
            return "choice_invalid"
        _apply_choice(q, choice, facts)
    elif kind == "age":
        years = parse_age(text)
        if years is None:
            return "age_invalid"
        set_fact(facts, "child.age", years)
    elif kind == "months":
        months = parse_months(text)
        if months is None:
            return "months_invalid"
        set_fact(facts, q["sets"][0], months)
    elif kind in ("disability", "disability_child"):
        parsed = parse_disability(text)
        if parsed is False:
            return "disability_invalid"
        set_fact(facts, q["sets"][0], parsed)
    return None


def step(state: dict[str, Any] | None, text: str) -> tuple[dict[str, Any], list[Reply]]:
    state = copy.deepcopy(state) if state else new_state()
    text = (text or "").strip()
    replies: list[Reply] = []
    if text in RESTART_WORDS or text == "/start" and not state["asked"]:
        state = new_state()
        replies.append(Reply("welcome"))
    elif text in CANCEL_WORDS:
        return new_state(), [Reply("cancelled")]
    elif has_danger(text):
        state["urgent"] = True
        replies.append(Reply("danger", {"hotlines": _hotlines(state)}))
    elif text in BACK_WORDS:
        if state["history"]:
            previous = state["history"].pop()
            state["facts"], state["asked"] = previous["facts"], previous["asked"]
            state["done"] = False
        else:
            replies.append(Reply("nothing_to_go_back"))
    elif state["current"] and not state["done"]:
        q = BY_ID[state["current"]]
        snapshot = {"facts": copy.deepcopy(state["facts"]), "asked": list(state["asked"])}
        error = answer(state, q, text)
        if error:
            return state, [Reply(error, {"choices": [c["label"] for c in q.get("choices", [])]}), ask(q, state)]
        state["history"].append(snapshot)
        state["asked"].append(q["id"])
        if q["id"] == "safety" and any(get_fact(state["facts"], f"safety.{k}") for k in
                                       ("abused", "neglected", "abandoned")):
            state["urgent"] = True
            replies.append(Reply("danger", {"hotlines": _hotlines(state)}))
        if q["id"] == "region" and not state.get("place_match"):
            replies.append(Reply("place_unknown", {"place": state["facts"]["region"]}))
    elif not state["current"] and not state["done"]:
        replies.append(Reply("welcome"))
    try:
        result = screen(state["facts"]) if "region" in state["facts"] else None
    except FactsError:
        result = None
    q = next_question(state, result)
    if q is None and result is not None:
        state["current"], state["done"] = None, True
        replies.append(Reply("result", {"r": result}))
    elif q is not None:
        state["current"] = q["id"]
        replies.append(ask(q, state))
    return state, replies


def _hotlines(state: dict[str, Any]) -> list[dict[str, Any]]:
    kb = load_kb()
    out, seen = [], set()
    for pack in kb.packs.values():
        for h in pack.pack.hotlines:
            if h.number not in seen:
                seen.add(h.number)
                out.append({"number": h.number, "name": h.name})
    return sorted(out, key=lambda h: h["number"] != "110")
