"""Scheduled work: delete unfinished conversations after TONGZHU_SESSION_DAYS days (default 30).

With several workers on PostgreSQL each runs the loop, but a run takes a transaction-scoped
`pg_try_advisory_xact_lock`: only one worker does the work, the others skip that round.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from casework.retention import session_days
from storage import repo

log = logging.getLogger("tongzhu.jobs")
JOB_LOCK = 727_001  # an arbitrary constant: the advisory lock id of the maintenance job


def run_maintenance(engine: Engine, *, days: int | None = None) -> dict[str, int] | None:
    """→ what was deleted, or None when another worker holds the job."""
    with Session(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            got = session.exec(text("SELECT pg_try_advisory_xact_lock(:k)").bindparams(k=JOB_LOCK)).one()[0]
            if not got:
                return None
        return repo.delete_stale(session, days=days if days is not None else session_days())


async def maintenance_loop(engine: Engine, every_seconds: float = 6 * 3600) -> None:
    while True:
        try:
            done = await asyncio.to_thread(run_maintenance, engine)
            if done:
                log.info("maintenance: deleted %(sessions)s stale sessions, %(updates)s old update ids", done)
        except Exception:  # noqa: BLE001 - a failed round must not stop the bot
            log.exception("maintenance failed")
        await asyncio.sleep(every_seconds)
