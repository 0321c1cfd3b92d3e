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

import datetime as dt
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
    return describe_record(case.answers_json, case.facts_json)


def describe_record(answers_json: str | None, facts_json: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if answers_json:
        try:
            record = json.loads(answers_json)
        except ValueError:
            record = {}
    if not record:
        try:
            facts = json.loads(facts_json or "{}")
        except ValueError:
            facts = {}
        record = {"who": "", "answers": [], "told": [], "danger": {"words": [], "told": []},
                  "urgent_why": [], "facts": told.describe(facts) if facts else []}
    record.setdefault("danger", {"words": [], "told": []})
    record.setdefault("urgent_why", [])
    return record


def answers_text(record: dict[str, Any]) -> str:
    """The answers as lines "问题：回答", then the stories; the facts in words for older cases."""
    lines = [f"{a['question']}：{a['answer']}" for a in record.get("answers") or []]
    lines += [f"讲述：{t['text']}" for t in record.get("told") or []]
    return "\n".join(lines) or "\n".join(record.get("facts") or [])


def record_context(case: PreApplication, local) -> dict[str, Any]:  # noqa: ANN001
    """What the printed 登记表 adds from the record: the answers in words, the stories, the urgent reason."""
    record = describe_case(case)
    answers = [{"question": a["question"], "answer": a["answer"], "at": local(_parse(a.get("at")), "%m-%d %H:%M")}
               for a in record["answers"]]
    if not answers:
        answers = [{"question": "家庭情况", "answer": line, "at": ""} for line in record.get("facts") or []]
    return {"answers": answers, "told": [t["text"] for t in record.get("told") or []],
            "answered_by": record.get("who") or "", "urgent_reason": urgent_reason(record) if case.urgent else ""}


def _parse(moment: str | None):  # noqa: ANN202
    try:
        return dt.datetime.fromisoformat(moment) if moment else None
    except ValueError:
        return None


def urgent_reason(record: dict[str, Any]) -> str:
    """Why a case is urgent, in the family's words where there are any."""
    danger = record.get("danger") or {}
    parts = list(record.get("urgent_why") or [])
    if danger.get("words"):
        parts.append("危险信号：" + "、".join(f"“{w}”" for w in danger["words"]))
    parts += [f"原话：“{t}”" for t in danger.get("told") or []]
    return "；".join(parts) or "家属在对话中选择了孩子不安全的回答"
