"""An export reads in its own snapshot and never holds the write lock (storage/db.py `reading`):
while the office downloads every case, families' messages are still answered and new cases filed.
On SQLite every other transaction takes `BEGIN IMMEDIATE`, so before `reading` an export of 10,000
cases held every family's next message up for its duration.  SQLite and the real PostgreSQL."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, func, select

from bench.exports import make_cases
from casework import staff
from casework.export import case_rows
from conversation.model import Input
from conversation.session import handle
from e2e.pg import pg_schema, sqlite_or_postgres  # noqa: F401  (fixtures: SQLite or a fresh PostgreSQL schema)
from storage import repo
from storage.db import make_engine, reading
from storage.models import PreApplication, Role


@pytest.fixture
def engine(sqlite_or_postgres):
    engine = make_engine(sqlite_or_postgres[1])
    if sqlite_or_postgres[0] == "sqlite":
        # a writer that finds the lock taken gives up after half a second (the bot waits 30 s),
        # so a held lock fails this test instead of slowing it down
        @event.listens_for(engine, "connect")
        def _impatient(dbapi_connection, _record):  # noqa: ANN001
            dbapi_connection.execute("PRAGMA busy_timeout = 500")
    with Session(engine) as s, s.begin():
        repo.set_role(s, user_key="tg:2", role=Role.staff, region="浙江省台州市温岭市", telegram_id=2)
    yield engine
    engine.dispose()


def cases(session) -> int:
    return session.exec(select(func.count()).select_from(PreApplication)).one()


def test_a_family_is_answered_and_a_case_filed_while_an_export_reads(engine):
    refs = make_cases(engine, 4)
    with reading(engine) as session:
        rows = case_rows(session, region_lineage=None)
        first, _docs = next(rows)  # the export is under way: its statements are open
        assert first.reference == refs[0]

        outcome = handle(engine=engine, services=None, user_key="tg:500", inp=Input.typed("/start"), update_id=1)
        assert outcome is not None and outcome.replies  # the family got its answer at once
        refs += make_cases(engine, 1, start=4)  # and another family's case was filed

        assert [row.reference for row, _ in rows] == refs[1:4]  # one snapshot: the export as it began
        assert cases(session) == 4
    with Session(engine) as s:
        assert cases(s) == 5


def read_only(conn) -> bool:  # noqa: ANN001
    """Whether the pooled connection would refuse a write (outside any transaction)."""
    driver = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        return driver.execute("PRAGMA query_only").fetchone()[0] == 1
    return driver.execute("SHOW default_transaction_read_only").fetchone()[0] == "on" or \
        driver.execute("SHOW transaction_read_only").fetchone()[0] == "on"


def test_a_write_in_a_reading_session_is_refused_and_the_connection_writes_again_after(engine):
    make_cases(engine, 1)
    with pytest.raises(DBAPIError):
        with reading(engine) as session:
            used = session.connection().connection.dbapi_connection
            session.exec(text("DELETE FROM case_documents"))
    with reading(engine) as session:
        used_again = session.connection().connection.dbapi_connection
        assert cases(session) == 1
    # back in the pool, neither connection refuses writes: take every pooled one at once to find them
    held = [engine.connect() for _ in range(engine.pool.size())]
    try:
        drivers = {id(c.connection.dbapi_connection): c for c in held}
        assert {id(used), id(used_again)} <= drivers.keys(), "the pool kept both connections"
        for driver in (id(used), id(used_again)):
            assert not read_only(drivers[driver])
    finally:
        for c in held:
            c.close()
    assert handle(engine=engine, services=None, user_key="tg:501", inp=Input.typed("你好"), update_id=None)


def test_the_telegram_desk_export_is_made_after_its_transaction(engine):
    refs = make_cases(engine, 2)
    out = staff.handle(engine=engine, user_key="tg:2", text="/export", action=None)
    [doc] = out.documents
    assert doc.content.startswith(b"PK")  # an XLSX (a zip), made once the command's transaction ended
    rows = list(load_workbook(BytesIO(doc.content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == refs[:1]  # the 温岭 staff member's place: the first case, not 綦江's
