"""The office's actions on a case: ONE service layer under both desks (Telegram: casework/staff.py;
web: desk/). Every check is here, on the server: who may see a case, which status may follow which
(casework/lifecycle.py), what a refusal or an acceptance needs, and what the family is told.

`CaseActions(session, user)` works inside the caller's transaction; a change returns the notices
for the family (one Notice per person: the filer, and the volunteer who referred them), which the
adapter queues for delivery in the same transaction.
"""

from __future__ import annotations

from sqlmodel import Session

from casework import lifecycle
from conversation.model import Notice, Reply
from storage import repo
from storage.models import CaseDocument, Child, PreApplication, Role, Status, User


def in_scope(user: User, case: PreApplication) -> bool:
    """Admins see every case; staff the cases of their place and the places inside it."""
    return user.role == Role.admin or (user.role == Role.staff and bool(user.region)
                                       and f"/{user.region}/" in case.place_lineage)


def scope_prefixes(user: User) -> list[str] | None:
    """The place names a queue is limited to (None: all places, for admins)."""
    return None if user.role == Role.admin else [user.region or ""]


class NotAllowed(PermissionError):
    pass


class CaseActions:
    def __init__(self, session: Session, user: User):
        self.s, self.user = session, user

    def check_scope(self, case: PreApplication, what: str) -> None:
        """Raise NotAllowed (and log the refusal) unless the user is staff of this case's place."""
        if not in_scope(self.user, case):
            repo.audit(self.s, user_key=self.user.user_key, action=what[:40], case_ref=case.reference,
                       allowed=False, detail="not staff of this case")
            raise NotAllowed(case.reference)

    def documents(self, case: PreApplication) -> list[CaseDocument]:
        return repo.documents_of(self.s, case=case)

    def toggle_request(self, case: PreApplication, index: int) -> None:
        docs = self.documents(case)
        if 0 <= index < len(docs):
            docs[index].requested = not docs[index].requested
            self.s.add(docs[index])
            self.s.flush()

    def set_requested(self, case: PreApplication, doc_ids: set[int]) -> None:
        """Exactly these documents are asked for (ids of this case's documents; others are ignored)."""
        for doc in self.documents(case):
            wanted = doc.id in doc_ids
            if doc.requested != wanted:
                doc.requested = wanted
                self.s.add(doc)
        self.s.flush()

    def transition(self, case: PreApplication, to: Status, *, reason: str | None = None,
                   department: str | None = None) -> list[Notice]:
        """Change the status (lifecycle.TransitionError when not allowed) → the family's notices.

        需补充材料 tells the family every requested document in ONE message (一次性告知)."""
        reason = (reason or "").strip()[:500] or None
        department = (department or "").strip()[:120] or None
        requested = [d for d in self.documents(case) if d.requested]
        lifecycle.check(case.status, to, reason=reason, department=department, requested=len(requested))
        repo.change_status(self.s, case=case, to=to, by=self.user, reason=reason, department=department)
        repo.audit(self.s, user_key=self.user.user_key, action=f"status:{to.name}", case_ref=case.reference,
                   detail=f"requested={len(requested)}" if to == Status.needs_documents else "")
        child = self.s.get(Child, case.child_id)
        update = Reply("case_update", {"reference": case.reference, "child": child.name if child else "",
                                       "status": to.value, "reason": reason, "department": department,
                                       "requested": [{"name": d.name, "detail": d.detail} for d in requested]
                                       if to == Status.needs_documents else []})
        return [Notice(key, update) for key in self.people_of(case)]

    def note(self, case: PreApplication, text: str) -> bool:
        text = (text or "").strip()
        if not text:
            return False
        repo.add_note(self.s, case=case, author=self.user, text=text[:2000])
        repo.audit(self.s, user_key=self.user.user_key, action="note", case_ref=case.reference)
        return True

    def people_of(self, case: PreApplication) -> list[str]:
        """The family's filer and the volunteer who referred them: they hear of every change."""
        keys = []
        filer = self.s.get(User, case.filer_id)
        if filer is not None:
            keys.append(filer.user_key)
            if filer.referred_by:
                volunteer = self.s.get(User, filer.referred_by)
                if volunteer is not None:
                    keys.append(volunteer.user_key)
        return keys
