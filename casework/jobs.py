"""Scheduled work: delete unfinished conversations after TONGZHU_SESSION_DAYS days (default 30).

With several workers on PostgreSQL each runs the loop, but a round takes a transaction-scoped
`pg_try_advisory_xact_lock` (two rounds never overlap) and, under it, looks for the last round in the
audit log: a worker whose round comes less than a period after another worker's skips it, so the
job runs once per period, not once per worker.
"""

from __future__ import annotations

import asyncio
import logging

import datetime as dt

from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from casework.retention import session_days
from storage import repo
from storage.models import AuditLog, utcnow

log = logging.getLogger("tongzhu.jobs")
JOB_LOCK = 727_001  # an arbitrary constant: the advisory lock id of the maintenance job


def run_maintenance(engine: Engine, *, days: int | None = None,
                    every: float | None = None) -> dict[str, int] | None:
    """→ what was deleted, or None when another worker holds the job or, with `every` seconds, ran it
    less than that long ago."""
    with Session(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            got = session.exec(text("SELECT pg_try_advisory_xact_lock(:k)").bindparams(k=JOB_LOCK)).one()[0]
            if not got:
                return None
        if every is not None:
            last = session.exec(select(func.max(AuditLog.at)).where(AuditLog.action == "maintenance")).one()
            if last is not None and utcnow() - _aware(last) < dt.timedelta(seconds=every):
                return None
        done = repo.delete_stale(session, days=days if days is not None else session_days())
        repo.audit(session, user_key="system", action="maintenance",
                   detail=f"sessions={done['sessions']} updates={done['updates']}")
        return done


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


async def maintenance_loop(engine: Engine, every_seconds: float = 6 * 3600) -> None:
    while True:
        try:
            done = await asyncio.to_thread(run_maintenance, engine, every=every_seconds * 0.9)
            if done and (done["sessions"] or done["updates"]):
                log.info("maintenance: deleted %(sessions)s stale sessions, %(updates)s old update ids", done)
        except Exception:  # noqa: BLE001 - a failed round must not stop the bot
            log.exception("maintenance failed")
        await asyncio.sleep(every_seconds)
