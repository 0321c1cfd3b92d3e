"""The staff desk in Telegram: /queue, /case REF, /note REF 文字, /refuse REF 理由, /export, and the
buttons on a case ("s:…").  Every read and every button is checked here, on the server: a forged
callback from someone who is not staff of the case's place changes nothing and is logged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

import clock
from casework import lifecycle
from casework.actions import CaseActions, in_scope, scope_prefixes
from conversation import told
from conversation.model import Button, Notice, Reply, rows
from storage import outbox, repo
from storage.hygiene import clean_text
from templates import label, words
from storage.db import lock_user, reading
from storage.models import Child, PreApplication, Role, Status, User

COMMANDS = ["queue", "case", "note", "refuse", "export"]
REFUSAL_REASONS: list[str] = words("refusal_reasons")
REF = re.compile(r"TZ\d{8}-[0-9A-F]{6}")


@dataclass
class Document:
    """A file for the staff member.  An export is made after the command's transaction committed, in
    a reading session (storage/db.py `reading`), so it never holds SQLite's write lock."""
    filename: str
    make: Callable[[Session], bytes]
    content: bytes = b""


@dataclass
class StaffOutcome:
    replies: list[Reply] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


def is_staff(user: User) -> bool:
    return user.role in (Role.staff, Role.admin)


def handle(*, engine: Engine, user_key: str, text: str | None, action: str | None,
           update_id: int | None = None, telegram_id: int | None = None, bot_id: int = 0,
           edit_of: str | int | None = None, queued: list | None = None) -> StaffOutcome | None:
    """One staff command or button, in one transaction; replies and notices are queued in the outbox
    (storage/outbox.py) with the change.  Documents (exports) are returned, sent by the adapter."""
    text = clean_text(text) if text is not None else None
    with Session(engine) as session, session.begin():
        lock_user(session, user_key)
        if update_id is not None and not repo.first_time(session, update_id=update_id, user_key=user_key,
                                                         bot_id=bot_id):
            return None
        user = repo.get_or_create_user(session, user_key=user_key, telegram_id=telegram_id)
        desk = Desk(session, user)
        if action is not None:
            desk.button(action)
        else:
            desk.command(text or "")
        outbox.add_outcome(session, user_key=user_key, replies=desk.out.replies, notices=desk.out.notices,
                           edit_of=edit_of, queued=queued)
    for doc in desk.out.documents:
        with reading(engine) as session:
            doc.content = doc.make(session)
    return desk.out


class Desk:
    def __init__(self, session: Session, user: User):
        self.s, self.user, self.out = session, user, StaffOutcome()

    # -- entry points

    def command(self, text: str) -> None:
        command, _, rest = text.partition(" ")
        command = command.split("@")[0].lstrip("/")
        if not is_staff(self.user):  # the audit row keeps the reference that was tried
            tried = REF.search(rest.upper())
            return self._refuse(command, tried.group(0) if tried else None, "not staff")
        if command == "queue":
            self.queue()
        elif command == "export":
            self.export()
        else:
            match = REF.search(rest.upper())
            case = repo.case_by_ref(self.s, reference=match.group(0)) if match else None
            if case is None:
                self.out.replies.append(Reply("staff_no_case", {"command": command}))
                return
            if not in_scope(self.user, case):
                return self._refuse(command, case.reference, "other place")
            extra = rest[match.end():].strip() if match else ""
            if command == "case":
                self.open(case)
            elif command == "note":
                self.note(case, extra)
            elif command == "refuse":
                self.transition(case, Status.refused, reason=extra)

    def button(self, action: str) -> None:
        parts = action.split(":")
        verb, ref = (parts[1], parts[2]) if len(parts) >= 3 else ("", "")
        arg = parts[3] if len(parts) >= 4 else None
        case = repo.case_by_ref(self.s, reference=ref)
        if not is_staff(self.user) or case is None or not in_scope(self.user, case):
            return self._refuse(f"button {verb}", ref, "not staff of this case" if case else "no such case")
        if verb == "open":
            self.open(case)
        elif verb == "review":
            self.transition(case, Status.reviewing)
        elif verb == "docs":
            self.documents(case)
        elif verb == "req" and arg is not None and arg.isdigit():
            self.toggle_request(case, int(arg))
        elif verb == "send":
            self.transition(case, Status.needs_documents)
        elif verb == "accept":
            self.departments(case)
        elif verb == "dept" and arg is not None and arg.isdigit():
            depts = departments_of(case)
            if int(arg) < len(depts):
                self.transition(case, Status.accepted, department=depts[int(arg)])
        elif verb == "refuse":
            self.refusal_reasons(case)
        elif verb == "why" and arg is not None and arg.isdigit() and int(arg) < len(REFUSAL_REASONS):
            self.transition(case, Status.refused, reason=REFUSAL_REASONS[int(arg)])
        elif verb == "close":
            self.transition(case, Status.closed)
        else:
            self._refuse(f"button {verb}", ref, "unknown button")

    # -- views

    def queue(self) -> None:
        prefixes = scope_prefixes(self.user)
        cases = repo.queue(self.s, lineage_prefixes=prefixes)
        children = repo.children_of(self.s, cases=cases)  # one statement for the whole list
        items = [self._line(c, children.get(c.child_id)) for c in cases]
        repo.audit(self.s, user_key=self.user.user_key, action="queue", detail=f"{len(items)} cases")
        self.out.replies.append(Reply("staff_queue", {"items": items, "region": self.user.region},
                                      rows([Button(label("queue_item", urgent=c.urgent, reference=c.reference), f"s:open:{c.reference}")
                                            for c in cases], 2)))

    def open(self, case: PreApplication) -> None:
        repo.audit(self.s, user_key=self.user.user_key, action="open", case_ref=case.reference)
        result = json.loads(case.result_json)
        family, child = repo.family_and_child(self.s, case=case)
        docs = repo.documents_of(self.s, case=case)
        self.out.replies.append(Reply("staff_case", {  # plain data: rendered after the transaction ends
            "c": self._line(case, child), "family": family.model_dump(exclude={"phone_enc"}),
            "facts": told.describe(json.loads(case.facts_json)),
            "child": child.model_dump(exclude={"id_enc", "id_hash"}),
            "categories": result.get("categories", []), "possible": result.get("possible_categories", []),
            "docs": [d.model_dump() for d in docs], "notes": [n.model_dump() for n in repo.notes_of(self.s, case=case)],
            "history": [h.model_dump() for h in repo.history_of(self.s, case=case)],
            "kb_version": case.kb_version}, self._actions(case)))

    def documents(self, case: PreApplication, edit: bool = False) -> None:
        docs = repo.documents_of(self.s, case=case)
        buttons = [[Button(label("staff_doc", requested=d.requested, have=d.have, name=d.name),
                           f"s:req:{case.reference}:{i}")] for i, d in enumerate(docs)]
        buttons.append([Button(label("tell_family_at_once"), f"s:send:{case.reference}"),
                        Button(label("back_to_case"), f"s:open:{case.reference}")])
        self.out.replies.append(Reply("staff_documents", {"reference": case.reference}, buttons, edit=edit))

    def toggle_request(self, case: PreApplication, index: int) -> None:
        CaseActions(self.s, self.user).toggle_request(case, index)
        self.documents(case, edit=True)

    def departments(self, case: PreApplication) -> None:
        depts = departments_of(case)
        self.out.replies.append(Reply("staff_departments", {"reference": case.reference},
                                      rows([Button(d[:30], f"s:dept:{case.reference}:{i}")
                                            for i, d in enumerate(depts)], 1)))

    def refusal_reasons(self, case: PreApplication) -> None:
        self.out.replies.append(Reply("staff_refusal", {"reference": case.reference},
                                      rows([Button(r[:30], f"s:why:{case.reference}:{i}")
                                            for i, r in enumerate(REFUSAL_REASONS)], 1)))

    # -- changes

    def note(self, case: PreApplication, text: str) -> None:
        if not CaseActions(self.s, self.user).note(case, text):
            self.out.replies.append(Reply("staff_note_empty", {"reference": case.reference}))
            return
        self.out.replies.append(Reply("staff_done", {"reference": case.reference, "note": True, "status": None}))

    def transition(self, case: PreApplication, to: Status, *, reason: str | None = None,
                   department: str | None = None) -> None:
        """Through the case service (casework/actions.py), the same checks and notices as the web desk."""
        try:
            notices = CaseActions(self.s, self.user).transition(case, to, reason=reason, department=department)
        except lifecycle.TransitionError as exc:
            self.out.replies.append(Reply("staff_cannot", {"reference": case.reference, "code": exc.code,
                                                          "current": exc.current.value, "to": exc.to.value}))
            return
        self.out.replies.append(Reply("staff_done", {"reference": case.reference, "note": False, "status": to.value},
                                      self._actions(case)))
        self.out.notices.extend(notices)

    def export(self) -> None:
        from casework.export import xlsx_bytes

        region = None if self.user.role == Role.admin else [self.user.region or ""]
        repo.audit(self.s, user_key=self.user.user_key, action="export", detail=f"region={region}")
        self.out.documents.append(Document(label("export_filename"),
                                           lambda session: xlsx_bytes(session, region_lineage=region)))

    # -- helpers

    @staticmethod
    def _line(case: PreApplication, child: Child | None) -> dict[str, Any]:
        return {"reference": case.reference, "urgent": case.urgent, "status": case.status.value,
                "place": case.place or case.region_input, "created": clock.local(case.created_at),
                "child": child.name if child else "", "id": child.id_masked if child else "",
                "duplicate": case.duplicate_of, "department": case.department, "reason": case.reason}

    def _actions(self, case: PreApplication) -> list[list[Button]]:
        ref = case.reference
        allowed = lifecycle.TRANSITIONS[case.status]
        buttons = []
        if Status.reviewing in allowed:
            buttons.append(Button(label("to_review"), f"s:review:{ref}"))
        if Status.needs_documents in allowed:
            buttons.append(Button(label("ask_documents"), f"s:docs:{ref}"))
        if Status.accepted in allowed:
            buttons.append(Button(label("accept"), f"s:accept:{ref}"))
        if Status.refused in allowed:
            buttons.append(Button(label("refuse"), f"s:refuse:{ref}"))
        if Status.closed in allowed:
            buttons.append(Button(label("close"), f"s:close:{ref}"))
        return rows(buttons, 2)

    def _refuse(self, what: str, ref: str | None, why: str) -> None:
        repo.audit(self.s, user_key=self.user.user_key, action=what[:40], case_ref=ref, allowed=False, detail=why)
        self.out.replies.append(Reply("staff_refused"))


def departments_of(case: PreApplication) -> list[str]:
    """The departments the knowledge base names for this child's entitlements, and the 民政 office."""
    result = json.loads(case.result_json)
    names = [e.get("department") for e in result.get("entitlements", []) if e.get("department")]
    out = list(dict.fromkeys([label("department_default")] + [n for n in names if n]))
    return out[:8]
