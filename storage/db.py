"""The database: SQLite by default (WAL), PostgreSQL through DATABASE_URL (psycopg 3).

Every update runs in one transaction that first takes the user's lock: on PostgreSQL a
transaction-scoped advisory lock on the user key (so two workers never handle one chat at once),
on SQLite `BEGIN IMMEDIATE` (SQLite has one writer at a time anyway).
"""

from __future__ import annotations

import zlib

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


def lock_user(session: Session, user_key: str) -> None:
    """Serialise one user's updates across processes (SQLite: the transaction already holds the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=zlib.crc32(user_key.encode())))


def create_all(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)
