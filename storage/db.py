"""The database: SQLite by default (WAL), PostgreSQL through DATABASE_URL (psycopg 3).

Every update runs in one transaction that first takes the user's lock: on PostgreSQL a
transaction-scoped advisory lock on the user key (so two workers never handle one chat at once),
on SQLite `BEGIN IMMEDIATE` (SQLite has one writer at a time anyway).  A long read that writes
nothing (an export) takes `reading(engine)` instead, which never holds the write lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from settings import get_settings
from storage import hot, models  # noqa: F401  (registers the tables)

DEFAULT_URL = "sqlite:///tongzhu.db"


def database_url() -> str:
    return get_settings().sqlalchemy_url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # noqa: ANN001
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL",
                           "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            # on the DBAPI cursor (storage/hot.py `_execute`: listeners see it, errors are SQLAlchemy's),
            # not through exec_driver_sql's result objects: every transaction pays this
            if conn.get_execution_options().get(_READING):
                hot.done(conn, hot.execute(conn, "PRAGMA query_only = ON", ()))
                hot.done(conn, hot.execute(conn, "BEGIN", ()))  # deferred: a snapshot, no write lock
            else:
                hot.done(conn, hot.execute(conn, "BEGIN IMMEDIATE", ()))
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if migrate:
        from storage.keys import KeyMismatch, check
        from storage.migrate import upgrade

        upgrade(engine)
        problem = check(engine)  # the data key this database was made with, or refuse to go on
        if problem:
            engine.dispose()
            raise KeyMismatch(problem)
    return engine


_READING = "tongzhu_reading"


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session that only reads, all of it in one snapshot: for the exports, which read every case.

    SQLite: a deferred transaction (`BEGIN`, where every other transaction takes `BEGIN IMMEDIATE`),
    which reads a snapshot of the WAL and never takes the write lock, so the bot and the desk go on
    writing while an export runs; `PRAGMA query_only` refuses a write in it.  PostgreSQL: READ ONLY,
    REPEATABLE READ (one snapshot for all its statements; reads never block writers there anyway)."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn.execution_options(**{_READING: True})
        else:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        try:
            with conn.begin(), Session(bind=conn) as session:
                yield session
        finally:
            if is_sqlite(engine) and not conn.invalidated:  # the pooled connection writes again
                conn.connection.driver_connection.execute("PRAGMA query_only = OFF")


def lock_user(session: Session, user_key: str) -> None:
    """Serialise one user's updates across processes (SQLite: the transaction already holds the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=zlib.crc32(user_key.encode())))


def create_all(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
