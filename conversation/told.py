"""Free text in the conversation: a question answered from the knowledge base, or a told situation
turned into proposed facts that the user confirms (freetext/ does the understanding)."""

from __future__ import annotations

import re
from typing import Any

from conversation.questionnaire import get_fact
from freetext import answer_question, read_story
from policy_kb.loader import load_kb
from screening.facts import FactsError, parse_facts

GROUPS = ("child", "household", "safety")
AT_LEAST = "_at_least"  # in a proposal (not a fact): the paths whose number is a lower bound (好几年)
_NONE = object()
# 好几年、这几天 tell a time; 不怎么管、不怎么回来 tell how a parent is, they do not ask
QUESTION = re.compile(r"[吗嘛？?]|(?<!不怎)么|(?<!不)怎么|多少|什么|哪里|哪儿|哪个|能不能|可不可以|是不是|要不要|有没有|如何|啥|"
                      r"(?<![好十这前])几[个天年月块]")


def is_question(text: str) -> bool:
    return bool(QUESTION.search(text))
PARENTS = ("father", "mother")


def flatten(facts: dict[str, Any]) -> dict[str, Any]:
    """{"father": {"situations": [...]}, "child": {"disability": {...}}} → {"father.situations": [...],
    "child.disability": {...}}: the answer form of conversation/questionnaire.py."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if key == AT_LEAST:
            continue
        if key in GROUPS + PARENTS and isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        else:
            out[key] = value
    return out


def describe(facts: dict[str, Any]) -> list[str]:
    """Proposed facts in plain words, one line per person or fact ("父亲：已去世")."""
    words = load_kb().describe
    lines = []
    for role in PARENTS:
        parent = facts.get(role)
        if not parent:
            continue
        parts = []
        if "situations" in parent:
            parts.append(words(f"situations", parent["situations"], True))
        for key in ("remaining_months", "unreachable_months", "disability"):
            if key in parent:  # 好几年: "已失联好几年（按至少24个月算）", as she said it
                bound = f"{role}.{key}" in facts.get(AT_LEAST, [])
                parts.append(words(key + (".at_least" if bound else ""), parent[key], True))
        lines.append(f"{words.role(role)}：{'，'.join(parts)}")
    for path, value in flatten({k: v for k, v in facts.items() if k not in PARENTS}).items():
        lines.append(words(path, value, False))
    return lines


def merge(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two told situations not yet confirmed, as one proposal: the later wins where both speak of
    the same fact, and a parent whose situation the later one tells is taken whole from it (a
    term left from the earlier one would not belong to the new situation)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in earlier.items()}
    for key, value in later.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not (key in PARENTS and "situations" in value):
            out[key].update(value)
        elif key != AT_LEAST:
            out[key] = value
    bounds = {p for p in earlier.get(AT_LEAST, [])
              if get_fact(out, p, _NONE) is not _NONE and get_fact(later, p, _NONE) is _NONE}
    bounds |= set(later.get(AT_LEAST, []))
    out.pop(AT_LEAST, None)
    return {**out, AT_LEAST: sorted(bounds)} if bounds else out


def proposed(text: str) -> dict[str, Any] | None:
    """The facts a told situation states, when there are any and they are valid facts."""
    facts, bounds = read_story(text)
    rest = {k: v for k, v in facts.items() if k != "region" and not (k == "child" and set(v) == {"hukou_local"})}
    if not rest:  # only where the 户口 is ("户口在通化"): a place answer, not a story
        return None
    try:
        parse_facts({"region": "-", **facts})
    except FactsError:
        return None
    return {**facts, AT_LEAST: sorted(bounds)} if bounds else facts


def answers(text: str, region: str | None) -> dict[str, Any]:
    return answer_question(text, region=region)
