"""The life of a pre-application: 已提交 → 审核中 → 需补充材料 → 已受理 (with the department) or
不予受理 (with a reason) → 已办结.  Each change records who and when (storage.models.StatusChange)."""

from __future__ import annotations

from storage.models import Status

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.submitted: (Status.reviewing, Status.needs_documents, Status.accepted, Status.refused),
    Status.reviewing: (Status.needs_documents, Status.accepted, Status.refused),
    Status.needs_documents: (Status.reviewing, Status.accepted, Status.refused),
    Status.accepted: (Status.closed,),
    Status.refused: (),
    Status.closed: (),
}


class TransitionError(ValueError):
    """`code` names the staff_cannot template's wording: not_allowed / needs_reason / needs_department /
    needs_documents."""

    def __init__(self, code: str, current: Status, to: Status):
        super().__init__(f"{code}: {current.name} → {to.name}")
        self.code, self.current, self.to = code, current, to


def check(current: Status, to: Status, *, reason: str | None = None, department: str | None = None,
          requested: int = 0) -> None:
    if to not in TRANSITIONS[current]:
        raise TransitionError("not_allowed", current, to)
    if to == Status.refused and not (reason or "").strip():
        raise TransitionError("needs_reason", current, to)
    if to == Status.accepted and not (department or "").strip():
        raise TransitionError("needs_department", current, to)
    if to == Status.needs_documents and requested == 0:
        raise TransitionError("needs_documents", current, to)
