"""The conversation engine: (state, input) → (new state, replies, notices). It knows nothing of Telegram.

State is a plain JSON-able dict that the adapters keep in the database, written on every step, so
a restart — or another process — continues exactly where the user was.  Replies are templates with
their context and buttons; each adapter renders them.  Work that needs the database (filing a case,
listing one's cases, forgetting one's data) goes through `services` (casework/service.py).

The flow: who is answering → place → safety → the family's situation, asking only what can still
change the result → summary (any answer can be changed) → result → documents checklist → consent →
identity → a filed pre-application.  Danger words in any message show what to do now, first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from conversation import questionnaire as qn
from conversation import result_view, told
from conversation import answers as typed_answers
from conversation.idcard import age_on, check_id, mask_id, mask_phone
from conversation.model import Button, Input, Notice, Reply, Who, rows
from policy_kb.loader import load_kb
from policy_kb.places import place_index
from screening.engine import screen
from screening.facts import FactsError
from settings import get_settings
from templates import label
from zhtext.danger import detect_danger
from zhtext.normal import bare, normalise
from zhtext.places import place_phrase, resolve_place
from zhtext.relations import carer, home_of, relation
from zhtext.yesno import polarity

FILING = qn.FILING
FILING_BY_ID = {f["id"]: f for f in FILING}
BACK_WORDS = ("返回", "上一步", "back", "/back")
RESTART_WORDS = ("/restart", "重新开始")
CANCEL_WORDS = ("/cancel", "取消")
PHONE = re.compile(r"1[3-9]\d{9}")
STATE_VERSION = 2


class Services(Protocol):
    def file_case(self, *, who: Who, state: dict[str, Any], facts: dict[str, Any],
                  result: dict[str, Any]) -> tuple[dict[str, Any], list[Notice]]: ...

    def my_cases(self, *, who: Who) -> list[dict[str, Any]]: ...

    def forget(self, *, who: Who) -> dict[str, Any]: ...


@dataclass
class Outcome:
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def new_state(keep: dict[str, Any] | None = None) -> dict[str, Any]:
    state = {"v": STATE_VERSION, "stage": "role", "acting": None, "asked": [], "answers": {},
             "previous": {}, "current": None, "editing": False, "place": None, "urgent": False,
             "danger": [], "docs": {}, "identity": {}, "field": None, "filed": [], "referral": None,
             "buttons": [], "nonce": secrets.token_hex(6)}
    if keep:
        state["referral"] = keep.get("referral")
        state["urgent"] = False
    return state


# ---------------------------------------------------------------- facts and result

def facts_of(state: dict[str, Any]) -> dict[str, Any]:
    return qn.rebuild(state)


def result_of(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The screen of these facts (None before the place is known).  A step asks for it several times
    and families share common situations: results are cached by the facts, and never mutated."""
    if "region" not in facts:
        return None
    return _screen_cached(json.dumps(facts, ensure_ascii=False, sort_keys=True))


@functools.lru_cache(maxsize=2048)
def _screen_cached(facts_json: str) -> dict[str, Any] | None:
    try:
        return screen(json.loads(facts_json))
    except FactsError:
        return None


def hotlines(result: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """110 first, then the hotlines of the place's packs (all packs when the place is not known)."""
    if result and result.get("hotlines"):
        found = result["hotlines"]
    else:
        found = [{"number": h.number, "name": h.name} for p in load_kb().packs.values() for h in p.pack.hotlines]
    out, seen = [], set()
    for h in found:
        if h["number"] not in seen:
            seen.add(h["number"])
            out.append({"number": h["number"], "name": h["name"]})
    return sorted(out, key=lambda h: h["number"] != "110")


# ---------------------------------------------------------------- asking

TYPICAL_QUESTIONS = 9  # before the place is known: what a family answers on the way (python -m conversation.simulate)


def _progress(state: dict[str, Any], facts: dict[str, Any], result: dict[str, Any] | None,
              pending: list[dict[str, Any]] | None = None) -> tuple[int, int]:
    """(this step, about how many steps): the estimate may shrink at once but grows by at most one
    between steps, so a family never sees 约10步 turn into 约25步. `pending`: the open questions,
    when the caller has them already."""
    done = len(state["asked"]) + 1  # the role question counts as step 1
    left = len(pending if pending is not None else qn.open_questions(state, facts, result))
    if "region" not in state["answers"]:
        left = max(left, TYPICAL_QUESTIONS)
    step, total = done + 1, done + left + 1  # + the summary
    shown = state.get("total")
    if shown is not None and not state["editing"]:
        total = min(total, shown + 1)
    total = max(total, step + 1)
    if not state["editing"]:
        state["total"] = total
    return step, total


def ask_question(state: dict[str, Any], q: dict[str, Any], facts: dict[str, Any],
                 result: dict[str, Any] | None, pending: list[dict[str, Any]] | None = None) -> Reply:
    step, total = _progress(state, facts, result, pending)
    buttons = [Button(c["label"], f"c:{q['id']}:{i}") for i, c in enumerate(q.get("choices", []))]
    prompt, why = q["prompt"], q["why"]
    if q["id"] == "region" and _hukou_away(state):
        prompt, why = q["away"]["prompt"], q["away"]["why"]
    elif q["id"] == "region" and "hukou" not in state["answers"]:
        buttons = [Button(label("hukou_away"), "away")]
    nav = []
    if state["asked"] and not state["editing"]:
        nav.append(Button(label("back"), "back"))
    if state["asked"]:
        nav.append(Button(label("show_answers"), "summary"))
    previous = state["previous"].get(q["id"])
    return Reply("question", {"prompt": prompt, "why": why, "step": step, "total": total,
                              "previous": previous["label"] if previous else None},
                 rows(buttons, 2 if len(buttons) > 3 and all(len(b.label) <= 10 for b in buttons) else 1)
                 + ([nav] if nav else []), numbered=q["kind"] == "choice")


def _hukou_away(state: dict[str, Any]) -> bool:
    """The family said the 户口 is elsewhere: the place they give is where the child lives."""
    return state["answers"].get("hukou", {}).get("set", {}).get("child.hukou_local") is False


def clarify_question(state: dict[str, Any], q: dict[str, Any], said: str, indexes: list[int]) -> Reply:
    """One short clarifying question: only the choices the typed word could mean."""
    buttons = [Button(q["choices"][i]["label"], f"c:{q['id']}:{i}") for i in indexes]
    return Reply("clarify", {"said": said[:20], "prompt": q["prompt"]}, rows(buttons, 1))


def ask_role() -> Reply:
    return Reply("role", {}, [[Button(label("role_self"), "role:self")],
                              [Button(label("role_family"), "role:family")]])


def ask_field(state: dict[str, Any], f: dict[str, Any]) -> Reply:
    buttons = [Button(c, f"f:{f['id']}:{i}") for i, c in enumerate(f.get("choices", []))]
    index = [x["id"] for x in FILING].index(f["id"])
    return Reply("field", {"prompt": f["prompt"], "why": f["why"], "step": index + 1, "total": len(FILING),
                           "acting": state["acting"]},
                 rows(buttons, 2) + [[Button(label("stop_filing"), "file:stop")]], numbered=f["kind"] == "choice")


def _next(state: dict[str, Any], out: Outcome) -> None:
    """After any change: ask the next question, or show the summary when nothing left can change the result."""
    if state["stage"] == "role":
        out.replies.append(ask_role())
        return
    facts = facts_of(state)
    result = result_of(facts)
    pending = qn.open_questions(state, facts, result)
    if pending:
        state["stage"], state["current"] = "questions", pending[0]["id"]
        out.replies.append(ask_question(state, pending[0], facts, result, pending))
    else:
        state["stage"], state["current"] = "summary", None
        out.replies.append(summary_reply(state))


def _ask_current(state: dict[str, Any], out: Outcome) -> None:
    facts = facts_of(state)
    out.replies.append(ask_question(state, qn.BY_ID[state["current"]], facts, result_of(facts)))


def _short(state: dict[str, Any], qid: str) -> str:
    if qid == "region" and _hukou_away(state):
        return qn.BY_ID[qid]["away"]["short"]
    return qn.BY_ID[qid]["short"] if qid in qn.BY_ID else label("told_situation")


def summary_reply(state: dict[str, Any]) -> Reply:
    items = [{"n": i + 1, "prompt": _short(state, qid),
              "answer": state["answers"][qid]["label"],
              "place": state["place"]["name"] if qid == "region" and state["place"] else None}
             for i, qid in enumerate(state["asked"])]
    edit = [Button(label("edit_item", n=i + 1), f"edit:{qid}" if qid in qn.BY_ID else f"drop:{qid}")
            for i, qid in enumerate(state["asked"])]
    return Reply("summary", {"items": items, "complete": state["stage"] == "summary"},
                 [[Button(label("see_result"), "result")]] + rows(edit, 4))


# ---------------------------------------------------------------- results

def result_replies(state: dict[str, Any], result: dict[str, Any]) -> list[Reply]:
    """The short first result; the rest is behind its buttons (conversation/result_view.py)."""
    return [result_view.result_reply(state, result, facts_of(state))]


def docs_reply(state: dict[str, Any], result: dict[str, Any], edit: bool = False) -> Reply:
    docs = [{"name": d["name"], "detail": d["detail"], "grade": d.get("grade"),
             "have": state["docs"].get(str(i))} for i, d in enumerate(result["documents"])]
    buttons = [[Button(label("doc_tick", have=d["have"], name=d["name"]), f"doc:{i}")] for i, d in enumerate(docs)]
    buttons.append(([Button(label("file"), "file")] if result_view.can_file(result) else [])
                   + [Button(label("back_to_result"), "result")])
    return Reply("documents", {"docs": docs, "can_file": result_view.can_file(result)}, buttons, edit=edit)


def source_reply(result: dict[str, Any], index: int) -> Reply | None:
    if not 0 <= index < len(result["categories"]):
        return None
    return Reply("source", {"c": result["categories"][index]})


# ---------------------------------------------------------------- filing

def _field_value(state: dict[str, Any], f: dict[str, Any], text: str, facts: dict[str, Any]) -> tuple[Any, str | None]:
    text = text.strip()
    kind = f["kind"]
    if kind == "text":
        if not f["min"] <= len(text) <= f["max"] or "<" in text and ">" in text:
            return None, "field_text_invalid"
        if re.search(r"\d{7,}", text):  # a phone or 身份证 number is not a name or an address (kept out of clear text)
            return None, "field_no_number"
        return text, None
    if kind == "choice":
        choices = f["choices"]
        if re.fullmatch(r"\d{1,2}", text) and 1 <= int(text) <= len(choices):
            return choices[int(text) - 1], None
        return (text, None) if text in choices else (None, "choice_invalid")
    if kind == "phone":
        digits = re.sub(r"[\s-]", "", text)
        return (digits, None) if PHONE.fullmatch(digits) else (None, "phone_invalid")
    if kind == "id":
        number, birth, error = check_id(text)
        if error:
            return None, error
        age = qn.get_fact(facts, "child.age")
        if age is not None and abs(age_on(birth) - age) > 0:
            return None, "id_age_mismatch"
        return number, None
    raise ValueError(f"questionnaire.yaml filing: unknown kind {kind}")


def _start_filing(state: dict[str, Any], out: Outcome) -> None:
    facts = facts_of(state)
    state["stage"] = "consent"
    age = qn.get_fact(facts, "child.age")
    consent = "volunteer" if state["acting"] == "family" else "guardian"
    out.replies.append(Reply("consent", {"who": consent, "under14": age is None or age < 14, "days": get_settings().tongzhu_session_days},
                             [[Button(label(f"consent_{consent}"), "consent:y")],
                              [Button(label("consent_no"), "consent:n")]]))


def _ask_next_field(state: dict[str, Any], out: Outcome) -> None:
    for f in FILING:
        if f["id"] not in state["identity"]:
            state["stage"], state["field"] = "identity", f["id"]
            out.replies.append(ask_field(state, f))
            return
    state["stage"], state["field"] = "confirm", None
    ident = state["identity"]
    out.replies.append(Reply("confirm_filing", {
        "applicant": ident["applicant_name"], "relation": ident["relation"], "phone": mask_phone(ident["phone"]),
        "child": ident["child_name"], "id": mask_id(ident["child_id"]), "address": ident["address"]},
        [[Button(label("submit"), "submit")], [Button(label("redo"), "file:redo"), Button(label("stop_filing"), "file:stop")]]))


def _submit(state: dict[str, Any], who: Who, services: Services | None, out: Outcome) -> None:
    if services is None:
        out.replies.append(Reply("filing_unavailable"))
        return
    facts = facts_of(state)
    result = result_of(facts)
    case, notices = services.file_case(who=who, state=state, facts=facts, result=result)
    state["filed"].append(case["reference"])
    state["stage"], state["identity"], state["field"] = "filed", {}, None
    state["nonce"] = secrets.token_hex(6)
    out.replies.append(Reply("filed", {"case": case, "r": result, "acting": state["acting"]},
                             [[Button(label("status"), "status")], [Button(label("restart_other_child"), "restart")]]))
    out.notices.extend(notices)


# ---------------------------------------------------------------- one step

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


KEPT_FROM = 6  # characters: a shorter message ("不清楚") is a word, not something told to keep for the office


def _keep_story(state: dict[str, Any], text: str) -> None:
    """The story as the family told it, kept for the office's record (casework/record.py)."""
    stories = state.setdefault("told", [])
    if not stories or stories[-1]["text"] != text[:1000]:
        stories.append({"text": text[:1000], "at": _now()})


def _danger(state: dict[str, Any], text: str, out: Outcome) -> None:
    words = detect_danger(text) if text else []
    if words:
        state["urgent"] = True
        state["danger"] = sorted(set(state["danger"]) | set(words))
        told_danger = state.setdefault("danger_told", [])  # the office reads the words in their sentence
        if text[:300] not in told_danger:
            told_danger.append(text[:300])
        out.replies.append(Reply("danger", {"hotlines": hotlines(result_of(facts_of(state)))}))


def _from_number(state: dict[str, Any], text: str) -> str | None:
    """A typed number picks the button of that number (the console shows buttons numbered)."""
    if re.fullmatch(r"\d{1,2}", text) and state["buttons"]:  # only where the buttons are numbered
        index = int(text) - 1
        if 0 <= index < len(state["buttons"]):
            return state["buttons"][index]
    return None


def _answer_question(state: dict[str, Any], q: dict[str, Any], answer: dict[str, Any], out: Outcome) -> None:
    told_here = state.pop("clarifying", None)
    if told_here and told_here["q"] == q["id"]:  # 孩子有自闭症 → "只有①…？": the autism stands too
        extra = {p: v for p, v in told_here["set"].items() if p not in answer["set"]}
        if extra:
            answer = {"label": "；".join([answer["label"], *told_here["lines"]]), "set": {**answer["set"], **extra}}
    if q["id"] in state["answers"]:
        state["previous"][q["id"]] = state["answers"][q["id"]]
    state["answers"][q["id"]] = {**answer, "at": _now()}  # when it was answered: the office's record
    if q["id"] not in state["asked"]:
        state["asked"].append(q["id"])
    if q["id"] == "region":
        match = resolve_place(answer["set"]["region"])
        plain = place_index(load_kb()).resolve(answer["set"]["region"])
        if match.node is not None and plain.node is not match.node:  # 重庆齐江: the district, not the city
            answer["set"]["region"] = match.node.name
        state["place"] = {"name": match.node.name, "how": match.how} if match.node else None
        if match.node is None:
            out.replies.append(Reply("place_unknown", {"place": answer["label"],
                                                        "candidates": match.candidates}))
        elif match.how == "fuzzy":
            out.replies.append(Reply("place_guess", {"place": answer["label"], "name": match.node.name}))
    if q["id"] == "safety" and any(answer["set"].get(f"safety.{k}") for k in ("abused", "neglected", "abandoned")):
        state["urgent"] = True
        if not any(r.template == "danger" for r in out.replies):  # the typed words may have said it already
            out.replies.append(Reply("danger", {"hotlines": hotlines()}))
    state["editing"] = False


@dataclass
class Press:
    """A button press being handled: the state, the action's argument, who pressed it, the services."""

    state: dict[str, Any]
    arg: str
    who: Who
    services: Services | None
    out: Outcome


Handler = Callable[[Press], bool]  # False: the button is stale (from an older message)
ANY = "*"
QUESTIONNAIRE_STAGES = ("summary", "result", "questions")
RESULT_STAGES = ("result", "documents")
FILING_STAGES = ("consent", "identity", "confirm")


def _on_role(p: Press) -> bool:
    p.state["acting"], p.state["stage"] = ("family" if p.arg == "family" else "self"), "questions"
    _next(p.state, p.out)
    return True


def _on_choice(p: Press) -> bool:
    qid, _, index = p.arg.rpartition(":")
    if qid != p.state["current"] or not index.isdigit():
        return False
    answer = qn.choice_answer(qn.BY_ID[qid], int(index))
    if answer is None:
        return False
    _answer_question(p.state, qn.BY_ID[qid], answer, p.out)
    _next(p.state, p.out)
    return True


def _on_away(p: Press) -> bool:
    """"户口在外地" at the place question: the 户口 answered, then the place where the child lives."""
    state = p.state
    if state["current"] != "region" or "hukou" in state["answers"]:
        return False
    _hukou_elsewhere(state, p.out)
    return True


def _hukou_elsewhere(state: dict[str, Any], out: Outcome) -> None:
    hukou = qn.BY_ID["hukou"]
    no = next(i for i, c in enumerate(hukou["choices"]) if c.get("polar") == "no")
    _answer_question(state, hukou, qn.choice_answer(hukou, no), out)
    _next(state, out)


def _on_back(p: Press) -> bool:
    _back(p.state, p.out)
    return True


def _on_summary(p: Press) -> bool:
    state = p.state
    if not state["asked"]:
        return False
    p.out.replies.append(summary_reply(state))
    if state["stage"] == "questions" and state["current"]:
        _ask_current(state, p.out)  # a look at the answers so far, then on with the same question
    else:
        state["stage"] = "summary"
    return True


def _on_edit(p: Press) -> bool:
    if p.arg not in p.state["answers"] or p.arg not in qn.BY_ID:
        return False
    p.state["stage"], p.state["current"], p.state["editing"] = "questions", p.arg, True
    _ask_current(p.state, p.out)
    return True


def _on_result(p: Press) -> bool:
    result = result_of(facts_of(p.state))
    if result is None:
        return False
    p.state["stage"] = "result"
    p.out.replies.extend(result_replies(p.state, result))
    return True


def _on_source(p: Press) -> bool:
    if not p.arg.isdigit():
        return False
    reply = source_reply(result_of(facts_of(p.state)) or {"categories": []}, int(p.arg))
    if reply is None:
        return False
    p.out.replies.append(reply)
    return True


def _on_more(p: Press) -> bool:
    if p.arg not in result_view.PAGES:
        return False
    facts = facts_of(p.state)
    p.out.replies.append(result_view.page_reply(p.arg, p.state, result_of(facts), facts))
    return True


def _on_docs(p: Press) -> bool:
    p.state["stage"] = "documents"
    p.out.replies.append(docs_reply(p.state, result_of(facts_of(p.state))))
    return True


def _on_doc(p: Press) -> bool:
    result = result_of(facts_of(p.state))
    if not p.arg.isdigit() or int(p.arg) >= len(result["documents"]):
        return False
    p.state["docs"][p.arg] = not p.state["docs"].get(p.arg, False)
    p.out.replies.append(docs_reply(p.state, result, edit=True))
    return True


def _on_file(p: Press) -> bool:
    state, arg = p.state, p.arg
    if arg == "" and state["stage"] in RESULT_STAGES:
        if not result_view.can_file(result_of(facts_of(state))):
            return False  # no office there reads pre-applications: the button was never offered
        _start_filing(state, p.out)
    elif arg == "stop" and state["stage"] in FILING_STAGES:
        state["stage"], state["identity"], state["field"] = "result", {}, None
        p.out.replies.append(Reply("filing_stopped", {}, [[Button(label("back_to_result"), "result")]]))
    elif arg == "redo" and state["stage"] == "confirm":
        state["identity"] = {}
        _ask_next_field(state, p.out)
    else:
        return False
    return True


def _on_consent(p: Press) -> bool:
    if p.arg == "y":
        _ask_next_field(p.state, p.out)
    else:
        p.state["stage"] = "result"
        p.out.replies.append(Reply("filing_stopped", {}, [[Button(label("back_to_result"), "result")]]))
    return True


def _on_field(p: Press) -> bool:
    state = p.state
    fid, _, index = p.arg.rpartition(":")
    f = FILING_BY_ID.get(fid)
    if f is None or fid != state["field"] or not index.isdigit() or int(index) >= len(f.get("choices", [])):
        return False
    state["identity"][fid] = f["choices"][int(index)]
    _ask_next_field(state, p.out)
    return True


def _on_submit(p: Press) -> bool:
    _submit(p.state, p.who, p.services, p.out)
    return True


def _on_submit_again(p: Press) -> bool:
    p.out.replies.append(Reply("already_filed", {"reference": p.state["filed"][-1]}))
    return True


def _on_intake(p: Press) -> bool:
    state = p.state
    if p.arg == "show" and state.get("offer") and state["stage"] != "filed":
        _propose(state, state.pop("offer"), p.out)
    elif p.arg in ("y", "n") and state["stage"] == "intake" and state.get("proposed"):
        _confirm_intake(state, p.arg == "y", p.out)
    else:
        return False
    return True


def _on_drop(p: Press) -> bool:
    if p.arg != "intake" or p.arg not in p.state["answers"]:
        return False
    p.state["asked"].remove(p.arg)
    p.state["answers"].pop(p.arg)
    _next(p.state, p.out)
    return True


def _on_resume(p: Press) -> bool:
    _repeat(p.state, p.out)
    return True


def _on_status(p: Press) -> bool:
    _status(p.who, p.services, p.out)
    return True


def _on_restart(p: Press) -> bool:
    _restart(p.state, p.out)
    return True


# (kind of button, stage) → handler; ANY: in every stage. A press not in the table is stale.
ACTIONS: dict[tuple[str, str], Handler] = {
    ("role", "role"): _on_role,
    ("c", "questions"): _on_choice,
    ("away", "questions"): _on_away,
    ("back", ANY): _on_back,
    ("summary", ANY): _on_summary,
    **{("edit", s): _on_edit for s in QUESTIONNAIRE_STAGES},
    **{("result", s): _on_result for s in ("summary", "result", "documents")},
    **{("src", s): _on_source for s in ("result", "documents", "filed")},
    **{("more", s): _on_more for s in RESULT_STAGES},
    **{("docs", s): _on_docs for s in RESULT_STAGES},
    ("doc", "documents"): _on_doc,
    **{("file", s): _on_file for s in RESULT_STAGES + FILING_STAGES},
    ("consent", "consent"): _on_consent,
    ("f", "identity"): _on_field,
    ("submit", "confirm"): _on_submit,
    ("submit", "filed"): _on_submit_again,
    ("intake", ANY): _on_intake,
    **{("drop", s): _on_drop for s in QUESTIONNAIRE_STAGES},
    ("resume", ANY): _on_resume,
    ("status", ANY): _on_status,
    ("restart", ANY): _on_restart,
}


def _action(state: dict[str, Any], action: str, who: Who, services: Services | None, out: Outcome) -> bool:
    """Handle a button through ACTIONS; False when the button is stale (from an older message)."""
    kind, _, arg = action.partition(":")
    handler = ACTIONS.get((kind, state["stage"])) or ACTIONS.get((kind, ANY))
    return bool(handler and handler(Press(state, arg, who, services, out)))


def _restart(state: dict[str, Any], out: Outcome) -> None:
    fresh = new_state(keep=state)
    state.clear()
    state.update(fresh)
    out.replies.append(Reply("welcome"))
    out.replies.append(ask_role())


def _status(who: Who, services: Services | None, out: Outcome) -> None:
    cases = services.my_cases(who=who) if services else []
    out.replies.append(Reply("status", {"cases": cases}))


def _back(state: dict[str, Any], out: Outcome) -> None:
    if state["stage"] in ("questions", "summary") and state["asked"]:
        last = state["asked"].pop()
        state["previous"][last] = state["answers"].pop(last)
        state["editing"] = False
        _next(state, out)
    elif state["stage"] == "identity":
        done = [f["id"] for f in FILING if f["id"] in state["identity"]]
        if done:
            state["identity"].pop(done[-1])
        _ask_next_field(state, out)
    else:
        out.replies.append(Reply("nothing_to_go_back"))
        _repeat(state, out)


def _repeat(state: dict[str, Any], out: Outcome) -> None:
    """Show again what the user is being asked now."""
    stage = state["stage"]
    if stage == "identity":
        out.replies.append(ask_field(state, FILING_BY_ID[state["field"]]))
    elif stage == "questions" and state["current"]:
        _ask_current(state, out)
    elif stage in ("questions", "summary", "role"):
        _next(state, out)
    elif stage == "consent":
        _start_filing(state, out)
    elif stage == "intake":
        out.replies.append(Reply("intake_confirm", {"lines": told.describe(state["proposed"]["facts"])},
                                 [[Button(label("intake_yes"), "intake:y")], [Button(label("intake_no"), "intake:n")]]))
    elif stage == "confirm":
        _ask_next_field(state, out)
    elif stage in ("result", "documents"):
        out.replies.extend(result_replies(state, result_of(facts_of(state))))
    elif stage == "filed":
        out.replies.append(Reply("after_filing", {"reference": state["filed"][-1]},
                                 [[Button(label("status"), "status")], [Button(label("restart_other_child"), "restart")]]))


VOLUNTEER_WORDS = ("儿童主任", "督导", "社工", "志愿者", "帮别人", "帮一户", "帮人", "村干部", "网格员", "工作人员", "老师")
SELF_WORDS = ("家人", "家属", "监护人", "自己家", "我家", "我的孩子", "我孙", "我外孙", "自己的孩子")
TYPED_YES_NO = {"consent": ("consent:y", "consent:n"), "intake": ("intake:y", "intake:n"),
                "confirm": ("submit", None)}
TYPED_WORDS = {"confirm": {"提交": "submit", "确认": "submit", "确定": "submit", "交": "submit", "重新填": "file:redo",
                           "重填": "file:redo", "不提交": "file:stop", "不交了": "file:stop"},
               "consent": {"同意": "consent:y", "愿意": "consent:y", "不同意": "consent:n", "不愿意": "consent:n"},
               "role": {}}


# buttons whose label works typed wherever their action does (the table decides where)
ALWAYS_LABELS = {"change_answers": "summary", "show_answers": "summary", "documents": "docs", "file": "file",
                 "back_to_result": "result", "see_result": "result", "restart": "restart", "status": "status"}


def _label_key(text: str) -> str:
    return re.sub(r"[^\w]", "", normalise(text))


def _typed_button(state: dict[str, Any], text: str) -> str | None:
    """A button's label typed ("改答案", "要带的材料", "同意"): the button pressed, when exactly one fits."""
    key = _label_key(text)
    if len(key) < 2:
        return None
    labels = [(_label_key(lbl), action) for lbl, action in state.get("labels", [])]
    labels += [(_label_key(label(k)), action) for k, action in ALWAYS_LABELS.items()]
    exact = [a for k, a in labels if k == key]
    if exact:
        return exact[0]
    near = {a for k, a in labels if k.startswith(key) or len(k) >= 2 and key.startswith(k) and len(key) - len(k) <= 2}
    if len(near) == 1:
        return near.pop()
    inside = {a for k, a in labels if key in k and len(key) >= 3}
    return inside.pop() if len(inside) == 1 else None


def _typed_stage_word(state: dict[str, Any], text: str) -> str | None:
    """Words that answer the stage's buttons: 同意 at consent, 提交 at the confirmation, 对/不对 at a proposal."""
    stage = state["stage"]
    word = bare(text)
    action = TYPED_WORDS.get(stage, {}).get(word)
    if action:
        return action
    if stage in TYPED_YES_NO:
        yes_no = polarity(text)
        if yes_no is not None:
            return TYPED_YES_NO[stage][0 if yes_no else 1]
    if stage == "role":
        if any(w in word for w in VOLUNTEER_WORDS):
            return "role:family"
        if relation(text) or any(w in word for w in SELF_WORDS) or polarity(text):
            return "role:self"
    return None


def _typed(state: dict[str, Any], text: str, who: Who, services: Services | None, out: Outcome) -> None:
    stage = state["stage"]
    if stage == "role" and (rel := relation(text)) and not any(w in bare(text) for w in VOLUNTEER_WORDS):
        state["speaker"] = rel  # 我是孩子奶奶: "跟我住" later means the grandparents
    action = _typed_stage_word(state, text) if stage != "role" or not told.proposed(text) else None
    if action is None and stage not in ("questions", "identity"):
        action = _typed_button(state, text)
    if action is not None:
        if _action(state, action, who, services, out):
            return
    if stage == "role" and _typed_place_first(state, text, out):
        return
    if stage == "intake" and _typed_place_at_proposal(state, text, out):
        return
    if stage == "questions" and state["current"]:
        _typed_answer(state, qn.BY_ID[state["current"]], text, out)
    elif stage == "identity":
        f = FILING_BY_ID[state["field"]]
        if f["kind"] == "choice" and relation(text) in f["choices"]:
            text = relation(text)
        value, error = _field_value(state, f, text, facts_of(state))
        if error:
            out.replies.append(Reply(error, {"choices": f.get("choices", [])}))
            out.replies.append(ask_field(state, f))
            return
        state["identity"][f["id"]] = value
        _ask_next_field(state, out)
    elif stage == "intake" and text and not _asks_or_tells(text):
        # "不清楚" or "他妈也不怎么管" at "对吗？": not a question for the knowledge base; a statement
        # is kept for the office, and the proposal shown again
        kept = len(text) >= KEPT_FROM
        if kept:
            _keep_story(state, text)
        out.replies.append(Reply("intake_unsure", {"kept": kept, "yes": label("intake_yes"), "no": label("intake_no")}))
        _repeat(state, out)
    elif stage in ("role", "summary", "result", "documents", "filed", "intake") and text:
        _free_text(state, text, out)
    else:
        if not out.replies:
            out.replies.append(Reply("use_buttons"))
        _repeat(state, out)


def _asks_or_tells(text: str) -> bool:
    """A question ("低保是什么？") or a told situation ("他妈也走了"), as opposed to a stray word."""
    return told.is_question(text) or bool(ASKS.search(normalise(text).strip())) or told.proposed(text) is not None


def _only_a_place(text: str) -> str | None:
    """The place phrase of a message that names a place we know and nothing more ("温岭", "户口在通化"):
    not a question, not a story."""
    phrase = place_phrase(text)
    if told.is_question(text) or len(phrase) > 12 or told.proposed(text):
        return None
    match = resolve_place(text)
    return phrase if match.node is not None and match.how in ("exact", "contains") else None


def _typed_place_first(state: dict[str, Any], text: str, out: Outcome) -> bool:
    """A place typed before anything else ("户口在通化"): the family's place, not a policy question."""
    phrase = _only_a_place(text)
    if phrase is None:
        return False
    state["acting"], state["stage"] = state["acting"] or "self", "questions"
    _answer_question(state, qn.BY_ID["region"], _place_answer(text, phrase), out)
    _next(state, out)
    return True


def _typed_place_at_proposal(state: dict[str, Any], text: str, out: Outcome) -> bool:
    """A place typed while a story's facts wait for 对 / 不对 (the story was told at the place
    question, then the place typed): the place joins the proposal, which is shown again; it is
    not a question for the knowledge base."""
    phrase = _only_a_place(text)
    if phrase is None:
        return False
    at_place_question = state["proposed"]["back_to"] == "questions" and state.get("current") == "region"
    said = _place_answer(text, phrase, hukou_asked=at_place_question and "hukou" not in state["answers"])["set"]
    facts: dict[str, Any] = {}
    for path, value in said.items():
        qn.set_fact(facts, path, value)
    _propose(state, facts, out)
    return True


def _place_answer(text: str, phrase: str, hukou_asked: bool = False) -> dict[str, Any]:
    """The place answer.  "户口在通化" also says the 户口 is there, and so does any place typed where
    the question asked where the 户口 is (`hukou_asked`): the 户口 question is then not asked."""
    said = {"region": phrase}
    if HUKOU_HERE.search(normalise(text)) or hukou_asked and not ELSEWHERE.search(normalise(text)):
        said["child.hukou_local"] = True
    return {"label": phrase, "set": said}


def _says_elsewhere(text: str) -> bool:
    """"户口在外地", "外地的", "不在这里" typed at the place question, naming no place we know."""
    return bool(ELSEWHERE.search(normalise(text))) and _place_name(text) is None


ELSEWHERE = re.compile(r"外地|外省|外县|不在这|不在本地|不是本地|不是这里|别的地方|老家")


HUKOU_HERE = re.compile(r"^(孩子的?|娃的?)?(户口|户籍)(就|也)?(在|是|落在)")


def _story_beyond(q: dict[str, Any], facts: dict[str, Any] | None) -> bool:
    """A told situation that says more than this question asks: proposed for confirmation."""
    if not facts:
        return False
    own = {qn.answers._prefix(q) + p for c in q.get("choices", []) for p in c["set"]} | set(q["sets"])
    flat = told.flatten({k: v for k, v in facts.items() if k != "region"})
    return bool(facts.get("region") and q["kind"] != "place") or any(path not in own for path in flat) or (
        q["kind"] == "place" and bool(flat))


def _typed_answer(state: dict[str, Any], q: dict[str, Any], text: str, out: Outcome) -> None:
    """Typed text at a question: a story (its facts proposed), an answer, one short clarifying
    question, or a kind message and the question again."""
    if q["kind"] == "place" and "hukou" not in state["answers"] and _says_elsewhere(text):
        _hukou_elsewhere(state, out)
        return
    story = told.proposed(text) if len(text) >= 4 else None
    understood = typed_answers.understand(q, text, place=(state.get("place") or {}).get("name"),
                                          resolve=_place_name) if q["kind"] != "place" else None
    if _story_beyond(q, story) and not told.is_question(text) and (
            q["kind"] == "place" or understood.answer is None or len(told.flatten(story)) >= 2 or len(text) > 12):
        _keep_story(state, text)
        _propose(state, story, out)
        return
    if q["kind"] == "place":
        phrase = place_phrase(text)
        if not phrase or len(phrase) > 60 or not re.search(r"[^\W\d_]", phrase) or told.is_question(text):
            if told.is_question(text) and _free_text(state, text, out, confident_only=True):
                return
            out.replies.append(Reply("place_invalid"))
            _repeat(state, out)
            return
        _answer_question(state, q, _place_answer(text, phrase, hukou_asked="hukou" not in state["answers"]), out)
        _next(state, out)
        return
    speaker_home = _lives_with_speaker(state, text) if q["id"] == "living" else None
    if speaker_home == "ask":  # 跟我: a parent's home or a grandparent's?
        out.replies.append(clarify_question(state, q, text, [_living_choice(w) for w in ("family", "relatives")]))
        return
    if speaker_home:
        understood = typed_answers.Understood(qn.choice_answer(q, _living_choice(speaker_home)))
    if ASKS.search(normalise(text).strip()):  # "低保是什么意思？" asks; it is not the answer 是低保户
        _free_text(state, text, out, question=True, offer=False)
        return
    if understood.answer is not None:
        _answer_question(state, q, understood.answer, out)
        if q["id"] == "safety" and "living" not in state["answers"]:
            _also_living(state, text, out)  # 安全，跟奶奶住: who the child lives with is said too
        _next(state, out)
        return
    if understood.clarify:
        if story:  # what the words told of this question's own facts is kept for the answer to come
            state["clarifying"] = {"q": q["id"], "set": told.flatten(story), "lines": told.describe(story)}
        out.replies.append(clarify_question(state, q, text, understood.clarify))
        return
    if len(text) >= 4 and (story or told.is_question(text)) and _free_text(state, text, out, confident_only=True):
        return  # a story to confirm, or a question's answer and the question again; a stray word: asked again
    if len(text) >= 8 and q["kind"] == "choice" and not told.is_question(text):
        # "他爸妈离婚了都不管他，跟我过": a story this question cannot take. It is kept for the office,
        # whom the child lives with is taken when it says so plainly, and this question asked again.
        _keep_story(state, text)
        living = "living" not in state["answers"] and q["id"] != "living" and _also_living(state, text, out)
        if not out.replies or living:
            filable = "region" in state["answers"] and result_view.can_file(result_of(facts_of(state)))
            out.replies.append(Reply("story_kept", {"living": living, "office": filable}))
    elif not out.replies:  # a danger message already answered it; just ask again
        out.replies.append(Reply(understood.error or "choice_invalid",
                                 {"choices": [c["label"] for c in q.get("choices", [])]}))
    _repeat(state, out)


# A question typed at a question (told.QUESTION is wider: 什么都没有 answers, it does not ask)
ASKS = re.compile(r"[？?]|[吗嘛]$|什么意思|啥意思|是什么|是啥|怎么(办|申请|弄|算|领|报)|能不能|可不可以|要不要|多少钱|哪里办|去哪")


FIRST_PERSON = re.compile(r"跟我|和我|跟着我|跟到我|我带|我们带|我自己带|我在带|我养|我照顾|我管")


def _lives_with_speaker(state: dict[str, Any], text: str) -> str | None:
    """"跟我住" / "我带着": "family" when a parent speaks, "relatives" when a grandparent or other
    relative does, "ask" when we do not know who speaks; None when the text says nothing of it."""
    if not FIRST_PERSON.search(normalise(text)) or any(carer(part) for part in _clauses(text)):
        return None
    return home_of(state.get("speaker")) or "ask"


def _clauses(text: str) -> list[str]:
    return [p for p in re.split(r"[，,。、；;\s]+", normalise(text)) if p]


def _living_choice(where: str) -> int:
    return next(i for i, c in enumerate(qn.BY_ID["living"]["choices"]) if c["set"].get("child.living") == where)


def _also_living(state: dict[str, Any], text: str, out: Outcome) -> str | None:
    """The living question answered from the same message, when one of its parts says it plainly:
    the label of the answer taken, or None."""
    where = next(filter(None, map(carer, _clauses(text))), None) or _lives_with_speaker(state, text)
    if where not in ("family", "relatives"):
        return None
    answer = qn.choice_answer(qn.BY_ID["living"], _living_choice(where))
    _answer_question(state, qn.BY_ID["living"], answer, out)
    return answer["label"]


def _place_name(text: str) -> str | None:
    match = resolve_place(text)
    return match.node.name if match.node is not None and match.how != "fuzzy" else None


def _free_text(state: dict[str, Any], text: str, out: Outcome, confident_only: bool = False,
               question: bool | None = None, offer: bool = True) -> bool:
    """A told situation → proposed facts to confirm; a question → answers from the knowledge base
    (and, when it also tells something of the family, a button to take that as their situation).
    With `confident_only` (text typed at a question) nothing is said unless one of the two holds;
    without `offer`, the question's words are not offered as the family's situation."""
    question = told.is_question(text) if question is None else question
    facts = told.proposed(text) if state["stage"] != "filed" and offer else None
    if not question and len(text) >= KEPT_FROM and state["stage"] != "filed":
        _keep_story(state, text)
    if facts and not question:
        _propose(state, facts, out)
        return True
    found = told.answers(text, facts_of(state).get("region"))
    if found["not_sure"] and confident_only and not facts:
        return False
    buttons = [[Button(label("intake_offer"), "intake:show")]] if facts else []
    if facts:
        state["offer"] = facts
    out.replies.append(Reply("answers" if not found["not_sure"] else "not_sure",
                             {"answers": found["answers"], "whom": found["whom_to_ask"]}, buttons))
    if buttons:
        return True
    if state["stage"] in ("result", "documents"):  # a short way back, not the whole result again
        filing = [[Button(label("file"), "file")]] if result_view.can_file(result_of(facts_of(state))) else []
        out.replies.append(Reply("go_on_after_result", {}, [[Button(label("see_result_again"), "result")]] + filing))
    else:
        _repeat(state, out)  # the role question starts the questionnaire; a question is asked again
    return True


def _propose(state: dict[str, Any], facts: dict[str, Any], out: Outcome) -> None:
    """Facts to confirm; told again before confirming ("孩子九岁", then the parents), one proposal of
    both: nothing told is lost."""
    back_to = state["stage"]
    if state["stage"] == "intake":
        back_to, facts = state["proposed"]["back_to"], told.merge(state["proposed"]["facts"], facts)
    state["proposed"], state["stage"] = {"facts": facts, "back_to": back_to}, "intake"
    _repeat(state, out)


def _confirm_intake(state: dict[str, Any], yes: bool, out: Outcome) -> None:
    proposal = state.pop("proposed")
    state["stage"] = proposal["back_to"] if proposal["back_to"] != "intake" else "role"
    if yes:
        facts = dict(proposal["facts"])
        region = facts.pop("region", None)
        if state["stage"] == "role":
            state["acting"], state["stage"] = state["acting"] or "self", "questions"
        if region and "region" not in state["answers"]:
            _answer_question(state, qn.BY_ID["region"], {"label": region, "set": {"region": region}}, out)
        if facts:
            merged = {**state["answers"].get("intake", {}).get("set", {}), **told.flatten(facts)}
            state["answers"]["intake"] = {"label": "；".join(told.describe(facts)), "set": merged, "at": _now()}
            if "intake" not in state["asked"]:
                state["asked"].append("intake")
        out.replies.append(Reply("intake_thanks"))
        state["stage"] = "questions" if state["stage"] in ("summary", "result", "documents") else state["stage"]
        _next(state, out)
    else:
        out.replies.append(Reply("intake_declined"))
        _repeat(state, out)


def step(state: dict[str, Any] | None, inp: Input, *, who: Who, services: Services | None = None) -> Outcome:
    # the caller's state is never changed; it is plain JSON, which a JSON round trip copies fastest
    state = json.loads(json.dumps(state)) if state and state.get("v") == STATE_VERSION else new_state()
    out = Outcome(state)
    text = inp.text
    action = inp.action or _from_number(state, text)
    command, _, payload = text.partition(" ") if text.startswith("/") else ("", "", "")
    command = command.split("@")[0]
    if command == "/start":
        if payload.strip():
            state["referral"] = payload.strip()[:64]
        if state["stage"] == "role" or not state["asked"]:
            fresh = new_state(keep=state)
            state.clear()
            state.update(fresh)
            out.replies.append(Reply("welcome"))
            out.replies.append(ask_role())
        else:
            out.replies.append(Reply("welcome_back"))
            _repeat(state, out)
    elif command == "/ask":
        _danger(state, payload, out)
        if payload.strip():
            _free_text(state, payload.strip(), out, question=True)
        else:
            out.replies.append(Reply("ask_how"))
    elif command == "/help":
        out.replies.append(Reply("help"))
        _repeat(state, out)
    elif command == "/status":
        _status(who, services, out)
    elif command == "/forget":
        summary = services.forget(who=who) if services else {}
        fresh = new_state()
        state.clear()
        state.update(fresh)
        out.replies.append(Reply("forgotten", {"summary": summary}))
    elif text in RESTART_WORDS:
        _restart(state, out)
    elif text in CANCEL_WORDS:
        fresh = new_state(keep=state)
        state.clear()
        state.update(fresh)
        out.replies.append(Reply("cancelled"))
    else:
        _danger(state, text, out)
        if text in BACK_WORDS:
            _back(state, out)
        elif action:
            if not _action(state, action, who, services, out):
                out.replies.append(Reply("stale_button"))
                _repeat(state, out)
        elif command:
            out.replies.append(Reply("unknown_command"))
            _repeat(state, out)
        else:
            _typed(state, text, who, services, out)
    last = next((r for r in reversed(out.replies) if r.buttons or r.template in ASKING), None)
    if last is not None:  # after a reply without buttons (依据, /status) the last buttons still count
        state["buttons"] = [b.action for b in last.flat_buttons] if last.numbered else []
        state["labels"] = [[b.label, b.action] for b in last.flat_buttons]
    return out


ASKING = {"question", "field", "role", "clarify", "summary", "consent", "confirm_filing", "intake_confirm"}
