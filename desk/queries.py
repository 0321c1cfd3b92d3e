"""What the desk lists and counts, in a few queries each (never one per case).

Every function takes the places the user may see (`prefixes`; None for admins), the same rule as
the Telegram desk's queue (casework/actions.py scope_prefixes)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from storage import repo
from storage.models import AuditLog, Child, Family, PreApplication, Status, StatusChange, utcnow

OPEN = (Status.submitted, Status.reviewing, Status.needs_documents, Status.accepted)
UNDECIDED = (Status.submitted, Status.reviewing)  # 需补充材料 waits on the family: its clock is theirs
DECISIONS = (Status.accepted, Status.refused)
DECIDED_SINCE = (Status.accepted, Status.refused, Status.closed)  # where a decided case can be now


@dataclass
class Filters:
    status: str = ""  # a Status name, "open" (default), or "all"
    category: str = ""
    place: str = ""
    overdue: bool = False
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> "Filters":
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            page = 1
        return cls(status=(params.get("status") or "open")[:20], category=(params.get("category") or "")[:60],
                   place=(params.get("place") or "")[:120], overdue=params.get("overdue") in ("1", "on", "true"),
                   q=(params.get("q") or "").strip()[:60], page=page)

    def query(self, **override: Any) -> dict[str, Any]:
        data = {"status": self.status, "category": self.category, "place": self.place,
                "overdue": "1" if self.overdue else "", "q": self.q, "page": self.page, **override}
        return {k: v for k, v in data.items() if v not in ("", None, 1) or k == "status"}


def scoped(stmt, prefixes: list[str] | None):
    if prefixes is None:
        return stmt
    names = [p for p in prefixes if p]
    if not names:
        return stmt.where(col(PreApplication.id) < 0)
    return stmt.where(repo.under_places(names))


def filtered(stmt, f: Filters, now: dt.datetime | None = None):
    if f.status == "open" or not f.status:
        stmt = stmt.where(col(PreApplication.status).in_(OPEN))
    elif f.status != "all" and f.status in Status.__members__:
        stmt = stmt.where(PreApplication.status == Status[f.status])
    if f.category:
        stmt = stmt.where(col(PreApplication.categories).contains(f"/{f.category}/", autoescape=True))
    if f.place:
        stmt = stmt.where(repo.under_places([f.place]))
    if f.overdue:
        stmt = stmt.where(col(PreApplication.status).in_(UNDECIDED), col(PreApplication.due_at) < (now or utcnow()))
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(or_(col(PreApplication.reference).ilike(like), col(Child.name).like(like),
                              col(Family.applicant_name).like(like)))
    return stmt


def queue(session: Session, *, prefixes: list[str] | None, f: Filters, per_page: int = 50,
          now: dt.datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of cases, urgent first, then oldest → (rows, total matching).  The count and the
    page's ids come from the desk's index alone (ix_pre_applications_desk), then only the page's
    rows are read: a case's row is wide (its facts, result and answers)."""
    ids = filtered_ids(prefixes=prefixes, f=f, now=now)
    total = session.exec(select(func.count()).select_from(ids.subquery())).one()
    order = (col(PreApplication.urgent).desc(), PreApplication.created_at, PreApplication.id)
    return lines(session, ids.order_by(*order).offset((f.page - 1) * per_page).limit(per_page), order, now), total


def lines(session: Session, page, order, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The list's lines of the cases whose ids `page` (an ordered, limited SELECT of ids) gives:
    only those rows are read, with their child's and applicant's names, in `order`."""
    ids = session.exec(page).all()
    if not ids:
        return []
    rows = session.exec(select(PreApplication, Child.name, Family.applicant_name)
                        .join(Child, Child.id == PreApplication.child_id)
                        .join(Family, Family.id == PreApplication.family_id)
                        .where(col(PreApplication.id).in_(ids)).order_by(*order)).all()
    now = now or utcnow()
    return [line(case, child, applicant, now) for case, child, applicant in rows]


def filtered_ids(*, prefixes: list[str] | None, f: Filters, now: dt.datetime | None = None):
    """A SELECT of the ids of every case matching the filters in the user's places (the queue, the
    XLSX).  The children and families are joined only for a search (it looks at their names)."""
    base = select(PreApplication.id)
    if f.q:
        base = (base.join(Child, Child.id == PreApplication.child_id)
                .join(Family, Family.id == PreApplication.family_id))
    return filtered(scoped(base, prefixes), f, now)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=dt.timezone.utc) if moment is not None and moment.tzinfo is None else moment


def is_overdue(case: PreApplication, now: dt.datetime) -> bool:
    due = _aware(case.due_at)
    return case.status in UNDECIDED and due is not None and due < now


def line(case: PreApplication, child: str, applicant: str, now: dt.datetime) -> dict[str, Any]:
    return {"reference": case.reference, "urgent": case.urgent, "status": case.status, "child": child,
            "applicant": applicant, "place": case.place or "", "created": _aware(case.created_at),
            "categories": [c for c in (case.categories or "").split("/") if c],
            "overdue": is_overdue(case, now), "due": _aware(case.due_at), "duplicate": case.duplicate_of}


@dataclass
class Dashboard:
    open_total: int = 0
    by_status: list[tuple[str, int]] = field(default_factory=list)
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_place: list[tuple[str, int]] = field(default_factory=list)
    urgent_open: int = 0
    overdue: int = 0
    decided: int = 0
    median_days: float | None = None
    overdue_cases: list[dict[str, Any]] = field(default_factory=list)


def dashboard(session: Session, *, prefixes: list[str] | None, now: dt.datetime | None = None) -> Dashboard:
    now = now or utcnow()
    d = Dashboard()
    open_cases = scoped(select(PreApplication.status, PreApplication.place, PreApplication.categories,
                               PreApplication.urgent, PreApplication.due_at)
                        .where(col(PreApplication.status).in_(OPEN)), prefixes)
    statuses, places, categories = Counter(), Counter(), Counter()
    for status, place, cats, urgent, due in session.exec(open_cases):
        d.open_total += 1
        statuses[status] += 1
        places[place or "（未识别）"] += 1
        for c in (cats or "").split("/"):
            if c:
                categories[c] += 1
        d.urgent_open += bool(urgent)
        due = _aware(due)
        d.overdue += bool(status in UNDECIDED and due is not None and due < now)
    d.by_status = [(s.value, statuses[s]) for s in OPEN]
    d.by_category = categories.most_common()
    d.by_place = places.most_common()
    decided = scoped(select(PreApplication.created_at, func.min(StatusChange.at))
                     .join(StatusChange, StatusChange.case_id == PreApplication.id)
                     # a decided case is accepted, refused or closed since (casework/lifecycle.py): the
                     # condition also lets the database read the desk's index, not the wide rows
                     .where(col(PreApplication.status).in_(DECIDED_SINCE))
                     .where(col(StatusChange.to_status).in_(DECISIONS))
                     .group_by(PreApplication.id, PreApplication.created_at), prefixes)
    days = [(_aware(at) - _aware(created)).total_seconds() / 86400 for created, at in session.exec(decided)]
    d.decided = len(days)
    d.median_days = round(statistics.median(days), 1) if days else None
    late = scoped(select(PreApplication.id)
                  .where(col(PreApplication.status).in_(UNDECIDED), col(PreApplication.due_at) < now), prefixes)
    order = (PreApplication.due_at, PreApplication.id)
    d.overdue_cases = lines(session, late.order_by(*order).limit(20), order, now)
    return d


def place_choices(session: Session, *, prefixes: list[str] | None) -> list[str]:
    stmt = scoped(select(PreApplication.place).where(col(PreApplication.place).is_not(None)).distinct(), prefixes)
    return sorted(p for p in session.exec(stmt) if p)


def category_choices(session: Session, *, prefixes: list[str] | None) -> list[str]:
    stmt = scoped(select(PreApplication.categories).distinct(), prefixes)
    names = set()
    for cats in session.exec(stmt):
        names.update(c for c in (cats or "").split("/") if c)
    return sorted(names)


def audit_log(session: Session, *, user_key: str = "", action: str = "", case_ref: str = "",
              refused_only: bool = False, page: int = 1, per_page: int = 100) -> tuple[list[AuditLog], int]:
    stmt = select(AuditLog)
    if user_key:
        stmt = stmt.where(col(AuditLog.user_key).contains(user_key, autoescape=True))
    if action:
        stmt = stmt.where(col(AuditLog.action).startswith(action, autoescape=True))
    if case_ref:
        stmt = stmt.where(col(AuditLog.case_ref).contains(case_ref.upper(), autoescape=True))
    if refused_only:
        stmt = stmt.where(AuditLog.allowed == False)  # noqa: E712
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(AuditLog.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total
