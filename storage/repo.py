"""Repository functions: keyword-only, each on a Session the caller owns (one transaction per update)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

import clock
from storage import crypto
from storage.models import (AuditLog, CaseDocument, CaseNote, Child, ConversationState, Family, InboxUpdate,
                            PreApplication,
                            ProcessedUpdate, Role, Status, StatusChange, User, utcnow)

OPEN_STATUSES = (Status.submitted, Status.reviewing, Status.needs_documents, Status.accepted)


# ---------------------------------------------------------------- users

def get_user(session: Session, *, user_key: str) -> User | None:
    return session.exec(select(User).where(User.user_key == user_key)).first()


def get_or_create_user(session: Session, *, user_key: str, telegram_id: int | None = None,
                       display_name: str | None = None) -> User:
    user = get_user(session, user_key=user_key)
    if user is None:
        user = User(user_key=user_key, telegram_id=telegram_id, display_name=display_name)
        session.add(user)
        session.flush()
    return user


def set_role(session: Session, *, user_key: str, role: Role, region: str | None = None,
             telegram_id: int | None = None) -> User:
    user = get_or_create_user(session, user_key=user_key, telegram_id=telegram_id)
    user.role = role
    user.region = region
    if role == Role.volunteer and not user.referral_code:
        user.referral_code = "v" + secrets.token_urlsafe(8).replace("-", "").replace("_", "")[:10]
    session.add(user)
    session.flush()
    return user


def staff_for_place(session: Session, *, lineage: list[str]) -> list[User]:
    """Staff (and admins) whose region is the case's place or one that contains it."""
    if not lineage:
        return list(session.exec(select(User).where(col(User.role).in_([Role.admin]))))
    return list(session.exec(select(User).where(col(User.role).in_([Role.staff, Role.admin]),
                                                col(User.region).in_(lineage))))


# ---------------------------------------------------------------- conversation state

def decode_state(raw: str) -> dict[str, Any]:
    """A stored state: encrypted (a Fernet token), or plain JSON written before encryption."""
    return json.loads(raw if raw.startswith("{") else crypto.decrypt(raw))


def encode_state(state: dict[str, Any]) -> str:
    """The whole state is encrypted: the identity form's 身份证 and phone (and anything a family
    types by mistake, like a number where a name is asked) are never stored in clear."""
    return crypto.encrypt(json.dumps(state, ensure_ascii=False, separators=(",", ":")))


def load_state(session: Session, *, user_key: str) -> dict[str, Any] | None:
    raw = session.exec(select(ConversationState.state_json).where(ConversationState.user_key == user_key)).first()
    return decode_state(raw) if raw is not None else None


def save_state(session: Session, *, user_key: str, state: dict[str, Any]) -> None:
    """One statement on the hot path: update the row, or insert it on first contact."""
    payload = encode_state(state)
    table = ConversationState.__table__
    updated = session.execute(update(table).where(table.c.user_key == user_key).values(
        state_json=payload, version=table.c.version + 1, updated_at=utcnow())).rowcount
    if not updated:
        session.add(ConversationState(user_key=user_key, state_json=payload, version=1))


def delete_state(session: Session, *, user_key: str) -> None:
    session.exec(delete(ConversationState).where(ConversationState.user_key == user_key))


def first_time(session: Session, *, update_id: int, user_key: str, bot_id: int = 0) -> bool:
    """Record an update of bot `bot_id`; False when it was handled before (Telegram redelivers after
    a crash).  One INSERT … ON CONFLICT DO NOTHING RETURNING: a row comes back only the first time."""
    table = ProcessedUpdate.__table__
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[session.get_bind().dialect.name]
    stmt = (insert(table).values(bot_id=bot_id, update_id=update_id, user_key=user_key, processed_at=utcnow())
            .on_conflict_do_nothing(index_elements=["bot_id", "update_id"]).returning(table.c.update_id))
    first = session.execute(stmt).first() is not None
    if bot_id:  # a polled update leaves the inbox in the transaction that handles it
        inbox = InboxUpdate.__table__
        session.execute(delete(inbox).where(inbox.c.bot_id == bot_id, inbox.c.update_id == update_id))
    return first


DEDUPE_KEEP = dt.timedelta(days=2)  # Telegram keeps an unconfirmed update 24 hours


def delete_stale(session: Session, *, days: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Unfinished conversations untouched for `days` days are deleted; update ids (dedupe keys)
    expire after two days, so ids Telegram hands out again much later are handled again; delivered
    outbox messages go after a day."""
    from storage import outbox

    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    states = session.exec(delete(ConversationState).where(ConversationState.updated_at < cutoff)).rowcount
    updates = session.exec(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - DEDUPE_KEEP)).rowcount
    sent = outbox.purge(session, older_than=dt.timedelta(days=1), now=now)
    return {"sessions": states or 0, "updates": updates or 0, "outbox": sent}


# ---------------------------------------------------------------- cases

def new_reference(session: Session, *, today: dt.date | None = None) -> str:
    today = today or clock.today()  # the family's and the office's date
    for _ in range(10):
        ref = f"TZ{today:%Y%m%d}-{secrets.token_hex(3).upper()}"
        if session.exec(select(PreApplication.id).where(PreApplication.reference == ref)).first() is None:
            return ref
    raise RuntimeError("no free reference number")


def case_by_key(session: Session, *, idempotency_key: str) -> PreApplication | None:
    return session.exec(select(PreApplication).where(PreApplication.idempotency_key == idempotency_key)).first()


def case_by_ref(session: Session, *, reference: str) -> PreApplication | None:
    return session.exec(select(PreApplication).where(PreApplication.reference == reference)).first()


def pending_for_child(session: Session, *, id_hash: str) -> PreApplication | None:
    return session.exec(select(PreApplication).join(Child, Child.id == PreApplication.child_id)
                        .where(Child.id_hash == id_hash, col(PreApplication.status).in_(OPEN_STATUSES))
                        .order_by(PreApplication.created_at)).first()


def create_case(session: Session, *, family: Family, child: Child, case: PreApplication,
                documents: list[dict[str, Any]], by: User) -> PreApplication:
    session.add(family)
    session.flush()
    child.family_id = family.id
    session.add(child)
    session.flush()
    case.family_id, case.child_id = family.id, child.id
    session.add(case)
    session.flush()
    for d in documents:
        session.add(CaseDocument(case_id=case.id, name=d["name"], detail=d.get("detail", ""), have=d.get("have")))
    session.add(StatusChange(case_id=case.id, from_status=None, to_status=case.status, by_id=by.id))
    return case


def delete_case(session: Session, *, case: PreApplication) -> None:
    """A case and everything that hangs on it: documents, notes, history, the child and the family."""
    for model in (CaseDocument, CaseNote, StatusChange):
        session.exec(delete(model).where(model.case_id == case.id))
    child_id, family_id = case.child_id, case.family_id
    session.exec(delete(PreApplication).where(PreApplication.id == case.id))
    session.exec(delete(Child).where(Child.id == child_id))
    if session.exec(select(PreApplication.id).where(PreApplication.family_id == family_id)).first() is None:
        session.exec(delete(Family).where(Family.id == family_id))


def cases_filed_by(session: Session, *, user: User) -> list[PreApplication]:
    return list(session.exec(select(PreApplication).where(PreApplication.filer_id == user.id)
                             .order_by(col(PreApplication.created_at).desc())))


def under_places(names: list[str]):  # noqa: ANN201 - an SQL condition
    """Cases under one of the places: place_lineage ("/重庆市/重庆市綦江区/") holds "/<name>/" for one of
    `names` (the staff's scope, the desk's place filter, the exports)."""
    from sqlalchemy import or_

    return or_(*[col(PreApplication.place_lineage).contains(f"/{n}/", autoescape=True) for n in names])


def queue(session: Session, *, lineage_prefixes: list[str] | None, limit: int = 20) -> list[PreApplication]:
    """Open cases, urgent first, then oldest; only those under the given places (None: all, for admins).
    The ids come from the desk's index alone (ix_pre_applications_desk), then only those rows are read."""
    ids = select(PreApplication.id).where(col(PreApplication.status).in_(
        [Status.submitted, Status.reviewing, Status.needs_documents]))
    if lineage_prefixes is not None:
        ids = ids.where(under_places(lineage_prefixes))
    order = (col(PreApplication.urgent).desc(), PreApplication.created_at, PreApplication.id)
    page = list(session.exec(ids.order_by(*order).limit(limit)))
    if not page:
        return []
    return list(session.exec(select(PreApplication).where(col(PreApplication.id).in_(page)).order_by(*order)))


def documents_of(session: Session, *, case: PreApplication) -> list[CaseDocument]:
    return list(session.exec(select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id)))


def notes_of(session: Session, *, case: PreApplication) -> list[CaseNote]:
    return list(session.exec(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)))


def history_of(session: Session, *, case: PreApplication) -> list[StatusChange]:
    return list(session.exec(select(StatusChange).where(StatusChange.case_id == case.id).order_by(StatusChange.id)))


def history_with_authors(session: Session, *, case: PreApplication) -> list[tuple[StatusChange, User | None]]:
    """The status history with the user who made each change, in one statement."""
    return list(session.exec(select(StatusChange, User).outerjoin(User, User.id == StatusChange.by_id)
                             .where(StatusChange.case_id == case.id).order_by(StatusChange.id)))


def family_and_child(session: Session, *, case: PreApplication) -> tuple[Family | None, Child | None]:
    """The case's family and child, in one statement."""
    row = session.exec(select(Family, Child).select_from(PreApplication)
                       .outerjoin(Family, Family.id == PreApplication.family_id)
                       .outerjoin(Child, Child.id == PreApplication.child_id)
                       .where(PreApplication.id == case.id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def children_of(session: Session, *, cases: list[PreApplication]) -> dict[int, Child]:
    """The children of several cases by id, in one statement (lists show the child's name)."""
    ids = sorted({c.child_id for c in cases})
    if not ids:
        return {}
    return {c.id: c for c in session.exec(select(Child).where(col(Child.id).in_(ids)))}


def requested_documents_of(session: Session, *, cases: list[PreApplication]) -> dict[int, list[str]]:
    """The names of the documents the office asked for, by case id, in one statement."""
    out: dict[int, list[str]] = {c.id: [] for c in cases}
    if not out:
        return out
    for case_id, name in session.exec(select(CaseDocument.case_id, CaseDocument.name)
                                      .where(col(CaseDocument.case_id).in_(list(out)), col(CaseDocument.requested))
                                      .order_by(CaseDocument.case_id, CaseDocument.id)):
        out[case_id].append(name)
    return out


def change_status(session: Session, *, case: PreApplication, to: Status, by: User,
                  reason: str | None = None, department: str | None = None) -> StatusChange:
    change = StatusChange(case_id=case.id, from_status=case.status, to_status=to, by_id=by.id, reason=reason)
    case.status, case.updated_at = to, utcnow()
    if reason is not None:
        case.reason = reason
    if department is not None:
        case.department = department
    session.add(case)
    session.add(change)
    return change


def add_note(session: Session, *, case: PreApplication, author: User, text: str) -> CaseNote:
    note = CaseNote(case_id=case.id, author_id=author.id, text=text)
    session.add(note)
    return note


def audit(session: Session, *, user_key: str, action: str, case_ref: str | None = None,
          allowed: bool = True, detail: str = "") -> None:
    session.add(AuditLog(user_key=user_key, action=action, case_ref=case_ref, allowed=allowed, detail=detail))


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()
