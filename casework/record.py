"""The family's answers in words, kept with the case at filing (PreApplication.answers_json), so the
office reads what the family said, not only the facts the screening used:

    {"who": "家属本人" | "志愿者代家属回答", "filed_at": ISO,
     "answers": [{"question": short label, "prompt": the question asked, "answer": the words,
                  "at": ISO or null}],
     "told": [{"text": the story as typed, "at": ISO}],
     "danger": {"words": [...], "told": [the sentences they were in]},
     "urgent_why": [the screening's reasons], "facts": [the facts in plain words]}

Built from the conversation state (conversation/engine.py keeps "at" on each answer, the stories in
state["told"] and the danger sentences in state["danger_told"]). Cases filed before this existed
have no record: `describe_case` falls back to the facts in words.
"""

from __future__ import annotations

import json
from typing import Any

from conversation import questionnaire as qn
from conversation import told
from storage.models import PreApplication, utcnow

WHO = {"family": "志愿者代家属回答", "self": "家属本人"}


def answers_record(state: dict[str, Any], facts: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    answers = []
    for qid in state.get("asked", []):
        answer = state.get("answers", {}).get(qid)
        if not answer:
            continue
        q = qn.BY_ID.get(qid)
        answers.append({"question": q["short"] if q else "讲述的情况", "prompt": q["prompt"] if q else "",
                        "answer": answer.get("label", ""), "at": answer.get("at")})
    place = state.get("place") or {}
    if place.get("name"):
        for a in answers:
            if a["question"] == qn.BY_ID["region"]["short"] and a["answer"] != place["name"]:
                a["answer"] = f"{a['answer']}（按 {place['name']} 的政策）"
    return {"who": WHO.get(state.get("acting") or "self", WHO["self"]), "filed_at": utcnow().isoformat(),
            "answers": answers, "told": list(state.get("told", [])),
            "danger": {"words": list(state.get("danger", [])), "told": list(state.get("danger_told", []))},
            "urgent_why": list((result or {}).get("urgent_why") or []), "facts": told.describe(facts)}


def category_path(result: dict[str, Any] | None) -> str:
    """"/孤儿/事实无人抚养儿童/": the categories of a result, searchable with LIKE "%/name/%"."""
    names = [c.get("name", "") for c in (result or {}).get("categories") or [] if isinstance(c, dict)]
    return ("/" + "/".join(n for n in names if n) + "/")[:400] if names else ""


def describe_case(case: PreApplication) -> dict[str, Any]:
    """The record of a case for the desk and the printed form (a fallback for older cases)."""
    record: dict[str, Any] = {}
    if case.answers_json:
        try:
            record = json.loads(case.answers_json)
        except ValueError:
            record = {}
    if not record:
        try:
            facts = json.loads(case.facts_json or "{}")
        except ValueError:
            facts = {}
        record = {"who": "", "answers": [], "told": [], "danger": {"words": [], "told": []},
                  "urgent_why": [], "facts": told.describe(facts) if facts else []}
    record.setdefault("danger", {"words": [], "told": []})
    record.setdefault("urgent_why", [])
    return record
