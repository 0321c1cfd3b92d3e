"""A fresh PostgreSQL schema per test on the local server (127.0.0.1:5432, database `test`, trust auth).

The bot is pointed at it with `?options=-csearch_path%3D<schema>` in DATABASE_URL, so its tables,
Alembic's version table and any test trigger live in that schema, which is dropped afterwards.
"""

from __future__ import annotations

import functools
import secrets
from typing import Iterator, NamedTuple
from urllib.parse import quote

import pytest

HOST, PORT, DATABASE = "127.0.0.1", 5432, "test"
USERS = ("postgres", "root")


@functools.cache
def server_user() -> str | None:
    """The first role of USERS the server lets in (None: no server, or none of them)."""
    try:
        import psycopg
    except ImportError:
        return None
    for user in USERS:
        try:
            with psycopg.connect(host=HOST, port=PORT, dbname=DATABASE, user=user, connect_timeout=3):
                return user
        except psycopg.Error:
            continue
    return None


def skip_reason() -> str:
    return (f"no PostgreSQL server accepting user {' or '.join(USERS)} without a password at "
            f"{HOST}:{PORT}, database {DATABASE!r}")


class Schema(NamedTuple):
    name: str
    url: str  # DATABASE_URL for the bot: postgresql://…?options=-csearch_path%3D<name>
    sa_url: str  # the same for SQLAlchemy (psycopg 3 driver)

    def connect(self, **kwargs):
        """A psycopg connection whose search_path is the schema."""
        import psycopg

        return psycopg.connect(host=HOST, port=PORT, dbname=DATABASE, user=server_user(),
                               options=f"-csearch_path={self.name}", **kwargs)


@pytest.fixture(params=["sqlite", "postgres"])
def sqlite_or_postgres(request, tmp_path, monkeypatch) -> tuple[str, str]:
    """("sqlite", a fresh file's URL) and ("postgres", a fresh schema's URL, skipped without a
    server), for the SQLAlchemy engine; a test data key of the process's own."""
    monkeypatch.delenv("TONGZHU_ENV", raising=False)
    monkeypatch.delenv("TONGZHU_DATA_KEY", raising=False)
    url = (f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_schema").sa_url)
    return request.param, url


@pytest.fixture
def pg_schema() -> Iterator[Schema]:
    user = server_user()
    if user is None:
        pytest.skip(skip_reason())
    import psycopg

    name = f"tz_{secrets.token_hex(5)}"
    admin = dict(host=HOST, port=PORT, dbname=DATABASE, user=user, autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    base = f"postgresql://{user}@{HOST}:{PORT}/{DATABASE}?options={quote(f'-csearch_path={name}')}"
    try:
        yield Schema(name, base, base.replace("postgresql://", "postgresql+psycopg://", 1))
    finally:
        with psycopg.connect(**admin) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
