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
    pass


def check(current: Status, to: Status, *, reason: str | None = None, department: str | None = None,
          requested: int = 0) -> None:
    if to not in TRANSITIONS[current]:
        raise TransitionError(f"{current.value} 不能改为 {to.value}")
    if to == Status.refused and not (reason or "").strip():
        raise TransitionError("不予受理必须写明理由")
    if to == Status.accepted and not (department or "").strip():
        raise TransitionError("受理时要写明转给哪个部门")
    if to == Status.needs_documents and requested == 0:
        raise TransitionError("要补充材料时，至少勾选一样")
