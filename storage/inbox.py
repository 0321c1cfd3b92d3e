"""The inbox: Telegram updates fetched by long polling are written here BEFORE their offset is
confirmed to Telegram, and processed from here.  A crash after the fetch loses nothing: at the next
start the rows still here are processed first.  (python-telegram-bot's own Updater confirms an
offset on its next getUpdates, before the update is processed.)

    inbox.store(session, bot_id=..., updates=[update_dict, ...])   # before the offset moves on
    for update_id, data in inbox.due(session, bot_id=...): ...      # what is left to process
    inbox.done(session, bot_id=..., update_id=...)                 # processed: the row goes
    inbox.failed(session, bot_id=..., update_id=...)               # tried again later, a few times

The update is kept encrypted (it holds what the family typed) and deleted once processed.  The
webhook needs no inbox: Telegram itself keeps an update until the webhook answers 200.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage import crypto
from storage.models import InboxUpdate, utcnow

log = logging.getLogger("tongzhu.inbox")
T = InboxUpdate.__table__
MAX_ATTEMPTS = 5


def store(session: Session, *, bot_id: int, updates: list[dict[str, Any]]) -> int:
    """Write fetched updates (an update already here is left as it is).  → how many were new."""
    if not updates:
        return 0
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[session.get_bind().dialect.name]
    now = utcnow()
    rows = [{"bot_id": bot_id, "update_id": int(u["update_id"]), "attempts": 0, "received_at": now,
             "payload_enc": crypto.encrypt(json.dumps(u, ensure_ascii=False, separators=(",", ":")))}
            for u in updates]
    result = session.execute(insert(T).values(rows).on_conflict_do_nothing(index_elements=["bot_id", "update_id"]))
    return result.rowcount or 0


def due(session: Session, *, bot_id: int, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
    now = utcnow()
    rows = session.execute(select(T.c.update_id, T.c.payload_enc).where(
        T.c.bot_id == bot_id, or_(T.c.not_before.is_(None), T.c.not_before <= now))
        .order_by(T.c.update_id).limit(limit)).all()
    return [(r.update_id, json.loads(crypto.decrypt(r.payload_enc))) for r in rows]


def waiting(session: Session, *, bot_id: int) -> int:
    from sqlalchemy import func
    return session.execute(select(func.count()).select_from(T).where(T.c.bot_id == bot_id)).scalar_one()


def done(session: Session, *, bot_id: int, update_id: int) -> None:
    session.execute(delete(T).where(T.c.bot_id == bot_id, T.c.update_id == update_id))


def failed(session: Session, *, bot_id: int, update_id: int, retry_in: float = 2.0) -> bool:
    """Processing failed: → True when it will be tried again, False when given up (and deleted)."""
    row = session.execute(select(T.c.attempts).where(T.c.bot_id == bot_id, T.c.update_id == update_id)).first()
    if row is None:
        return False
    if row.attempts + 1 >= MAX_ATTEMPTS:
        log.error("update %s failed %s times: given up", update_id, MAX_ATTEMPTS)
        done(session, bot_id=bot_id, update_id=update_id)
        return False
    session.execute(update(T).where(T.c.bot_id == bot_id, T.c.update_id == update_id).values(
        attempts=row.attempts + 1, not_before=utcnow() + dt.timedelta(seconds=retry_in * (row.attempts + 1))))
    return True
