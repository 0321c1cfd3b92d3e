"""Typed text at a question → the answer it gives (zhtext reads the words; the questionnaire says
which words mean which choice).

    understand(q, text, place=…) → Understood(answer) | Understood(clarify=[choice indexes]) |
                                   Understood(error="choice_invalid")

For a choice question, in order:
1. a number (the choice of that number), a choice's label, "不确定"-words;
2. a plain yes or no ("对", "嗯", "没有", "不是的") where the question has a `polar: yes/no` choice;
3. the everyday words of each choice (`words:` in questionnaire.yaml: 坐牢了 → 在坐牢, 跟奶奶 → 跟爷爷奶奶)
   — a word negated by what stands before it (不是低保户, 没有坐牢) counts against its choice: the
   question's "no" choice, or at a gate the negation of that one choice's facts;
4. an unclear word (`unclear:`: 走了 — died or left?) gives one short clarifying question with only
   the choices it could mean, never a guess. Where words of two choices stand, the same.
The place question's `place_check` (户口在通化 at "户口在不在本地"): the place named is compared with
the family's place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zhtext.normal import bare, normalise
from zhtext.numbers import AT_LEAST_SEVERAL_YEARS, SEVERAL_YEARS, parse_age, parse_disability, parse_months
from zhtext.relations import carer
from zhtext.yesno import negated, polarity

UNSURE = {"label": "不确定", "set": {}}
UNSURE_WORDS = ("不确定", "不知道", "不清楚", "不想说", "跳过", "不晓得", "不记得", "说不清", "说不好", "搞不清",
                "不太清楚", "不太确定", "不好说", "晓不得", "不懂", "不了解")


@dataclass
class Understood:
    answer: dict[str, Any] | None = None
    clarify: list[int] = field(default_factory=list)
    error: str | None = None


def _prefix(q: dict[str, Any]) -> str:
    return q["sets"][0].split(".")[0] + "." if q["id"] in ("father", "mother") else ""


def choice_answer(q: dict[str, Any], index: int) -> dict[str, Any] | None:
    choices = q.get("choices", [])
    if not 0 <= index < len(choices):
        return None
    choice = choices[index]
    return {"label": choice["label"], "set": {_prefix(q) + p: v for p, v in choice["set"].items()}}


def _label_core(label: str) -> str:
    return re.sub(r"（.*?）|\(.*?\)", "", normalise(label))


def _words(choice: dict[str, Any]) -> list[str]:
    core = _label_core(choice["label"])
    words = [normalise(w) for w in choice.get("words", [])]
    if len(core) >= 2 and not choice.get("polar"):
        words.append(core)
    return sorted(set(words), key=len, reverse=True)


def _hits(q: dict[str, Any], t: str) -> tuple[dict[int, int], dict[int, int]]:
    """Per choice, the length of its longest word found un-negated / negated."""
    pos: dict[int, int] = {}
    neg: dict[int, int] = {}
    taken = [False] * len(t)
    found = []
    for i, c in enumerate(q.get("choices", [])):
        for w in _words(c):
            for m in re.finditer(re.escape(w), t):
                found.append((len(w), m.start(), i))
    for length, start, i in sorted(found, key=lambda f: (-f[0], f[1])):
        if any(taken[start:start + length]):
            continue  # a longer word already covers it (不是低保户 holds 低保户 …)
        for k in range(start, start + length):
            taken[k] = True
        target = neg if negated(t, start) and not q["choices"][i].get("negative") else pos
        target[i] = max(target.get(i, 0), length)
    return pos, neg


def _polar(q: dict[str, Any], value: str) -> int | None:
    return next((i for i, c in enumerate(q.get("choices", [])) if c.get("polar") == value), None)


def _unclear(q: dict[str, Any], t: str) -> list[int] | None:
    labels = [c["label"] for c in q.get("choices", [])]
    for u in q.get("unclear", []):
        if re.search(u["re"], t):
            names = u["choices"]
            if u.get("leaving") and re.search(u["leaving"], t):
                names = u.get("if_leaving", names)
            return [labels.index(n) for n in names if n in labels]
    return None


def understand_choice(q: dict[str, Any], text: str, place: Any = None, resolve=None) -> Understood:
    choices = q.get("choices", [])
    t = bare(text)
    if re.fullmatch(r"\d{1,2}", t):
        index = int(t) - 1
        return Understood(choice_answer(q, index)) if 0 <= index < len(choices) else Understood(error="choice_invalid")
    for i, c in enumerate(choices):
        if t in (normalise(c["label"]), _label_core(c["label"])):
            return Understood(choice_answer(q, i))
    if t in UNSURE_WORDS or normalise(text) in UNSURE_WORDS:
        unsure = next((i for i, c in enumerate(choices) if not c["set"] and not c.get("means_present")
                       and not c.get("ask_each")), None)
        return Understood(choice_answer(q, unsure) if unsure is not None else dict(UNSURE))
    if q.get("place_check") and resolve is not None and place:
        named = resolve(t)
        if named is not None:
            same = named == place or place.startswith(named) or named.startswith(place)
            return Understood(choice_answer(q, _polar(q, "yes" if same else "no")))
    full = normalise(text).strip("，,。.！!？?")
    unclear = _unclear(q, full)
    if unclear:
        return Understood(clarify=unclear)
    yes_no = polarity(t)
    if yes_no is not None and _polar(q, "yes" if yes_no else "no") is not None:
        return Understood(choice_answer(q, _polar(q, "yes" if yes_no else "no")))
    if q["id"] == "living":
        who = carer(t)
        if who:
            return Understood(choice_answer(q, next(i for i, c in enumerate(choices) if c["set"].get("child.living") == who)))
    pos, neg = _hits(q, full)
    if pos:
        best = max(pos.values())
        top = [i for i, n in pos.items() if n == best]
        if len(pos) == 1 or len(top) == 1 and not _exclusive_clash(q, pos):
            return Understood(choice_answer(q, top[0]))
        return Understood(clarify=sorted(pos))
    if len(neg) == 1:
        (i,) = neg
        no = _polar(q, "no")
        if no is None and choices[i].get("polar") == "yes":  # 不安全: not safe, but how? ask
            return Understood(clarify=[k for k, c in enumerate(choices) if k != i and (c["set"] or c.get("means_present"))])
        if no is not None and choices[i].get("polar") == "yes" or no is not None and len(choices) <= 3:
            return Understood(choice_answer(q, no))
        flipped = {p: (not v) for p, v in choices[i]["set"].items() if isinstance(v, bool) and v}
        if flipped:
            return Understood({"label": "不是" + _label_core(choices[i]["label"]),
                               "set": {_prefix(q) + p: v for p, v in flipped.items()}})
    return Understood(error="choice_invalid")


def _exclusive_clash(q: dict[str, Any], pos: dict[int, int]) -> bool:
    """Words of two different choices stand in the text ("爸爸在家，又说在外打工"): ask, don't guess."""
    return len(pos) > 1


def understand(q: dict[str, Any], text: str, *, place: str | None = None, resolve=None) -> Understood:
    """Typed text → an answer, a clarifying question, or the template of a kind message."""
    kind = q["kind"]
    if kind == "choice":
        return understand_choice(q, text, place, resolve)
    t = normalise(text)
    if t in UNSURE_WORDS or bare(text) in UNSURE_WORDS:
        return Understood(dict(UNSURE))  # left unknown: unknown is not false
    target = q["sets"][0]
    if kind == "age":
        years = parse_age(text)
        return Understood({"label": f"{years}岁", "set": {target: years}}) if years is not None \
            else Understood(error="age_invalid")
    if kind == "months":
        months = parse_months(text)
        if months is None and SEVERAL_YEARS_SAID.search(t):  # 好几年: at least two years, more than any rule asks
            return Understood({"label": "好几年（至少2年）", "set": {target: AT_LEAST_SEVERAL_YEARS}})
        return Understood({"label": _months_label(months), "set": {target: months}}) if months is not None \
            else Understood(error="months_invalid")
    if kind in ("disability", "disability_child"):
        parsed = parse_disability(text)
        if parsed is False and polarity(text) is False:
            parsed = None
        if parsed is False:
            return Understood(error="disability_invalid")
        label = "没有" if parsed is None else f"{parsed['grade']}级 {parsed['kind']}"
        if parsed and kind == "disability_child":  # the grade is read off the certificate, unless it is not there yet
            parsed["certificate"] = not NO_CERTIFICATE.search(normalise(text))
            label += "（有残疾证）" if parsed["certificate"] else "（还没办证）"
        return Understood({"label": label, "set": {target: parsed}})
    raise ValueError(f"questionnaire.yaml: question {q['id']}: unknown kind {kind}")


SEVERAL_YEARS_SAID = re.compile(r"^(都|已经|有|快)?" + SEVERAL_YEARS)
NO_CERTIFICATE = re.compile(r"没(有)?(残疾)?证|没办|还没办|在办|正在办|没领|没去办|没拿到|办不下来|无证")


def _months_label(months: int) -> str:
    years, rest = divmod(months, 12)
    return (f"{years}年" if years else "") + (f"{rest}个月" if rest or not years else "")
