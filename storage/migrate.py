"""Schema migrations with Alembic (storage/alembic.ini, storage/migrations/).

`upgrade(engine)` runs at start-up (storage.db.make_engine) and from `alembic -c storage/alembic.ini
upgrade head`.  It runs the migrations on a connection of the app's own engine, inside one
`engine.begin()` transaction: on SQLite that is the engine's `BEGIN IMMEDIATE` (storage/db.py), so
Alembic sees an external transaction and does not begin or commit one of its own; on PostgreSQL a
transaction-scoped advisory lock is taken first, so two processes starting at once do not both
create the tables (the second waits, then finds the database at head and does nothing).

When the stored revision is already head, nothing of Alembic's runtime is loaded: one SELECT on
alembic_version (the head revision is read from the scripts once per process).
"""

from __future__ import annotations

import threading
import zlib
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

INI = Path(__file__).resolve().with_name("alembic.ini")
LOCK_KEY = zlib.crc32(b"tongzhu:alembic")  # pg_advisory_xact_lock key for migrations
VERSION_TABLE = "alembic_version"
BASELINE = "0001_initial"  # the revision that matches what the pre-Alembic create_all() made
# Alembic's `context` and `op` are module-level proxies: two threads running migrations at once (on
# two databases, say, in tests) would trample each other's.  One migration per process at a time.
_ALEMBIC = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config(str(INI))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"storage/migrations has {len(heads)} heads {heads}: merge them (alembic merge)")
    return heads[0]


def _stored_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return _stored_revision(connection)


def _fast_stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except (OperationalError, ProgrammingError):  # no version table yet
        return None


def upgrade(engine: Engine) -> None:
    """Bring the database to the latest revision; a no-op (one SELECT) when it already is."""
    head = head_revision()
    if _fast_stored_revision(engine) == head:
        return
    with _ALEMBIC, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        cfg = alembic_config(connection)
        if _adopt_unversioned(connection):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")


def _adopt_unversioned(connection: Connection) -> bool:
    """A database made by the placeholder create_all() before Alembic: its tables exist but no version.

    Stamp it at the baseline (the first revision, which creates exactly those tables) rather than
    failing on "table already exists"; later revisions then apply as usual.
    """
    names = set(inspect(connection).get_table_names())
    return VERSION_TABLE not in names and "pre_applications" in names
