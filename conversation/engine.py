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

import copy
import functools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from conversation import questionnaire as qn
from conversation import result_view, told
from conversation.idcard import age_on, check_id, mask_id, mask_phone
from conversation.model import Button, Input, Notice, Reply, Who, rows
from zhtext.danger import detect_danger
from policy_kb.loader import load_kb
from templates import label
from policy_kb.places import place_index
from screening.engine import screen
from screening.facts import FactsError
from settings import get_settings

FILING = yaml.safe_load(qn.QUESTIONNAIRE.read_text(encoding="utf-8"))["filing"]
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

def _progress(state: dict[str, Any], facts: dict[str, Any], result: dict[str, Any] | None) -> tuple[int, int]:
    done = len(state["asked"]) + 1  # the role question counts as step 1
    left = len(qn.open_questions(state, facts, result))
    if "region" not in state["answers"]:
        left = max(left, 8)  # before the place is known, a typical family answers about eight
    return done + 1, done + left + 1  # + the summary


def ask_question(state: dict[str, Any], q: dict[str, Any], facts: dict[str, Any],
                 result: dict[str, Any] | None) -> Reply:
    step, total = _progress(state, facts, result)
    buttons = [Button(c["label"], f"c:{q['id']}:{i}") for i, c in enumerate(q.get("choices", []))]
    nav = []
    if state["asked"] and not state["editing"]:
        nav.append(Button(label("back"), "back"))
    if state["asked"]:
        nav.append(Button(label("show_answers"), "summary"))
    previous = state["previous"].get(q["id"])
    return Reply("question", {"prompt": q["prompt"], "why": q["why"], "step": step, "total": total,
                              "previous": previous["label"] if previous else None},
                 rows(buttons, 2 if len(buttons) > 3 else 1) + ([nav] if nav else []),
                 numbered=q["kind"] == "choice")


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
        out.replies.append(ask_question(state, pending[0], facts, result))
    else:
        state["stage"], state["current"] = "summary", None
        out.replies.append(summary_reply(state))


def _ask_current(state: dict[str, Any], out: Outcome) -> None:
    facts = facts_of(state)
    out.replies.append(ask_question(state, qn.BY_ID[state["current"]], facts, result_of(facts)))


def summary_reply(state: dict[str, Any]) -> Reply:
    items = [{"n": i + 1, "prompt": qn.BY_ID[qid]["short"] if qid in qn.BY_ID else label("told_situation"),
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

def _danger(state: dict[str, Any], text: str, out: Outcome) -> None:
    words = detect_danger(text) if text else []
    if words:
        state["urgent"] = True
        state["danger"] = sorted(set(state["danger"]) | set(words))
        out.replies.append(Reply("danger", {"hotlines": hotlines(result_of(facts_of(state)))}))


def _from_number(state: dict[str, Any], text: str) -> str | None:
    """A typed number picks the button of that number (the console shows buttons numbered)."""
    if re.fullmatch(r"\d{1,2}", text) and state["buttons"]:  # only where the buttons are numbered
        index = int(text) - 1
        if 0 <= index < len(state["buttons"]):
            return state["buttons"][index]
    return None


def _answer_question(state: dict[str, Any], q: dict[str, Any], answer: dict[str, Any], out: Outcome) -> None:
    if q["id"] in state["answers"]:
        state["previous"][q["id"]] = state["answers"][q["id"]]
    state["answers"][q["id"]] = answer
    if q["id"] not in state["asked"]:
        state["asked"].append(q["id"])
    if q["id"] == "region":
        match = place_index(load_kb()).resolve(answer["set"]["region"])
        state["place"] = {"name": match.node.name, "how": match.how} if match.node else None
        if match.node is None:
            out.replies.append(Reply("place_unknown", {"place": answer["set"]["region"],
                                                        "candidates": match.candidates}))
        elif match.how == "fuzzy":
            out.replies.append(Reply("place_guess", {"place": answer["set"]["region"], "name": match.node.name}))
    if q["id"] == "safety" and any(answer["set"].get(f"safety.{k}") for k in ("abused", "neglected", "abandoned")):
        state["urgent"] = True
        out.replies.append(Reply("danger", {"hotlines": hotlines()}))
    state["editing"] = False


def _action(state: dict[str, Any], action: str, who: Who, services: Services | None, out: Outcome) -> bool:
    """Handle a button; False when the button is stale (from an older message)."""
    kind, _, arg = action.partition(":")
    stage = state["stage"]
    if kind == "role" and stage == "role":
        state["acting"], state["stage"] = ("family" if arg == "family" else "self"), "questions"
        _next(state, out)
    elif kind == "c" and stage == "questions":
        qid, _, index = arg.rpartition(":")
        if qid != state["current"] or not index.isdigit():
            return False
        answer = qn.choice_answer(qn.BY_ID[qid], int(index))
        if answer is None:
            return False
        _answer_question(state, qn.BY_ID[qid], answer, out)
        _next(state, out)
    elif kind == "back":
        _back(state, out)
    elif kind == "summary" and state["asked"]:
        out.replies.append(summary_reply(state))
        if stage == "questions" and state["current"]:
            _ask_current(state, out)  # a look at the answers so far, then on with the same question
        else:
            state["stage"] = "summary"
    elif kind == "edit" and arg in state["answers"] and stage in ("summary", "result", "questions"):
        state["stage"], state["current"], state["editing"] = "questions", arg, True
        _ask_current(state, out)
    elif kind == "result" and stage in ("summary", "result", "documents"):
        result = result_of(facts_of(state))
        if result is None:
            return False
        state["stage"] = "result"
        out.replies.extend(result_replies(state, result))
    elif kind == "src" and stage in ("result", "documents", "filed") and arg.isdigit():
        reply = source_reply(result_of(facts_of(state)) or {"categories": []}, int(arg))
        if reply is None:
            return False
        out.replies.append(reply)
    elif kind == "more" and stage in ("result", "documents") and arg in result_view.PAGES:
        out.replies.append(result_view.page_reply(arg, state, result_of(facts_of(state)), facts_of(state)))
    elif kind == "docs" and stage in ("result", "documents"):
        state["stage"] = "documents"
        out.replies.append(docs_reply(state, result_of(facts_of(state))))
    elif kind == "doc" and stage == "documents" and arg.isdigit():
        result = result_of(facts_of(state))
        if int(arg) >= len(result["documents"]):
            return False
        state["docs"][arg] = not state["docs"].get(arg, False)
        out.replies.append(docs_reply(state, result, edit=True))
    elif kind == "file" and arg == "" and stage in ("result", "documents"):
        if not result_view.can_file(result_of(facts_of(state))):
            return False  # no office there reads pre-applications: the button was never offered
        _start_filing(state, out)
    elif kind == "file" and arg == "stop" and stage in ("consent", "identity", "confirm"):
        state["stage"], state["identity"], state["field"] = "result", {}, None
        out.replies.append(Reply("filing_stopped", {}, [[Button(label("back_to_result"), "result")]]))
    elif kind == "file" and arg == "redo" and stage == "confirm":
        state["identity"] = {}
        _ask_next_field(state, out)
    elif kind == "consent" and stage == "consent":
        if arg == "y":
            _ask_next_field(state, out)
        else:
            state["stage"] = "result"
            out.replies.append(Reply("filing_stopped", {}, [[Button(label("back_to_result"), "result")]]))
    elif kind == "f" and stage == "identity":
        fid, _, index = arg.rpartition(":")
        f = FILING_BY_ID.get(fid)
        if f is None or fid != state["field"] or not index.isdigit() or int(index) >= len(f.get("choices", [])):
            return False
        state["identity"][fid] = f["choices"][int(index)]
        _ask_next_field(state, out)
    elif kind == "submit" and stage == "confirm":
        _submit(state, who, services, out)
    elif kind == "submit" and stage == "filed":
        out.replies.append(Reply("already_filed", {"reference": state["filed"][-1]}))
    elif kind == "intake" and arg == "show" and state.get("offer") and stage != "filed":
        _propose(state, state.pop("offer"), out)
    elif kind == "intake" and stage == "intake" and state.get("proposed"):
        _confirm_intake(state, arg == "y", out)
    elif kind == "drop" and arg == "intake" and arg in state["answers"] and stage in ("summary", "result", "questions"):
        state["asked"].remove(arg)
        state["answers"].pop(arg)
        _next(state, out)
    elif kind == "resume":
        _repeat(state, out)
    elif kind == "status":
        _status(who, services, out)
    elif kind == "restart":
        _restart(state, out)
    else:
        return False
    return True


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


def _typed(state: dict[str, Any], text: str, who: Who, services: Services | None, out: Outcome) -> None:
    stage = state["stage"]
    if stage == "questions" and state["current"]:
        q = qn.BY_ID[state["current"]]
        if q["kind"] == "place":
            if not text or len(text) > 60 or not re.search(r"[^\W\d_]", text):  # a place has letters
                out.replies.append(Reply("place_invalid"))
                _repeat(state, out)
                return
            _answer_question(state, q, {"label": text, "set": {"region": text}}, out)
            _next(state, out)
            return
        answer, error = qn.parse_answer(q, text)
        if answer is None:
            if len(text) >= 4 and _free_text(state, text, out, confident_only=True):
                return
            if not out.replies:  # a danger message already answered it; just ask again
                out.replies.append(Reply(error, {"choices": [c["label"] for c in q.get("choices", [])]}))
            _repeat(state, out)
            return
        _answer_question(state, q, answer, out)
        _next(state, out)
    elif stage == "identity":
        f = FILING_BY_ID[state["field"]]
        value, error = _field_value(state, f, text, facts_of(state))
        if error:
            out.replies.append(Reply(error, {"choices": f.get("choices", [])}))
            out.replies.append(ask_field(state, f))
            return
        state["identity"][f["id"]] = value
        _ask_next_field(state, out)
    elif stage in ("role", "summary", "result", "documents", "filed", "intake") and text:
        _free_text(state, text, out)
    else:
        if not out.replies:
            out.replies.append(Reply("use_buttons"))
        _repeat(state, out)


def _free_text(state: dict[str, Any], text: str, out: Outcome, confident_only: bool = False,
               question: bool | None = None) -> bool:
    """A told situation → proposed facts to confirm; a question → answers from the knowledge base
    (and, when it also tells something of the family, a button to take that as their situation).
    With `confident_only` (text typed at a question) nothing is said unless one of the two holds."""
    question = told.is_question(text) if question is None else question
    facts = told.proposed(text) if state["stage"] != "filed" else None
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
    back_to = state["stage"] if state["stage"] != "intake" else state["proposed"]["back_to"]
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
            state["answers"]["intake"] = {"label": "；".join(told.describe(facts)), "set": merged}
            if "intake" not in state["asked"]:
                state["asked"].append("intake")
        out.replies.append(Reply("intake_thanks"))
        state["stage"] = "questions" if state["stage"] in ("summary", "result", "documents") else state["stage"]
        _next(state, out)
    else:
        out.replies.append(Reply("intake_declined"))
        _repeat(state, out)


def step(state: dict[str, Any] | None, inp: Input, *, who: Who, services: Services | None = None) -> Outcome:
    state = copy.deepcopy(state) if state and state.get("v") == STATE_VERSION else new_state()
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
    last = next((r for r in reversed(out.replies) if r.buttons), None)
    state["buttons"] = [b.action for b in last.flat_buttons] if last and last.numbered else []
    return out
