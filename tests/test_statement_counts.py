"""The office's exports and lists cost a fixed number of SQL statements, however many cases there are
(issue 15): counted with a ``before_cursor_execute`` listener at 10 cases and again at 200, on SQLite
and on the real PostgreSQL. No timing here: the speed is in ``python -m bench.exports``."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from bench.exports import make_cases
from bench.sqlcount import StatementCounter
from casework import staff
from casework.export import export_docx, export_xlsx
from casework.service import CaseService
from conversation.model import Who
from e2e.pg import pg_schema, sqlite_or_postgres  # noqa: F401  (fixtures: SQLite or a fresh PostgreSQL schema)
from storage import repo
from storage.db import make_engine, reading
from storage.models import Role

VOLUNTEER = "tg:777"
WENLING = ["浙江省台州市温岭市"]


@pytest.fixture
def engine(sqlite_or_postgres):
    engine = make_engine(sqlite_or_postgres[1])
    with Session(engine) as s, s.begin():
        repo.set_role(s, user_key="tg:1", role=Role.admin, telegram_id=1)
        repo.set_role(s, user_key="tg:2", role=Role.staff, region=WENLING[0], telegram_id=2)
    yield engine
    engine.dispose()


def statements(engine, fn) -> int:
    with StatementCounter(engine) as counter:
        fn()
    return counter.count


def costs(engine, refs: list[str], tmp_path) -> dict[str, int]:
    """The statements each export and list issues, on the database as it is now."""
    def xlsx(region):  # read as bot.py export and the desks read them (storage/db.py reading)
        with reading(engine) as s:
            export_xlsx(s, region_lineage=region, out=tmp_path / "cases.xlsx")

    def docx():
        with reading(engine) as s:
            export_docx(s, reference=refs[-1], out=tmp_path / "case.docx")

    def my_cases():
        with Session(engine) as s, s.begin():
            assert len(CaseService(engine=engine).bind(s).my_cases(who=Who(VOLUNTEER))) == len(refs) // 2

    def desk(text):
        return lambda: staff.handle(engine=engine, user_key="tg:2", text=text, action=None)

    return {"xlsx all": statements(engine, lambda: xlsx(None)), "xlsx 温岭": statements(engine, lambda: xlsx(WENLING)),
            "docx": statements(engine, docx), "my cases": statements(engine, my_cases),
            "/queue": statements(engine, desk("/queue")), "/case": statements(engine, desk(f"/case {refs[0]}")),
            "/export": statements(engine, desk("/export"))}


def test_exports_and_lists_do_not_issue_more_statements_for_more_cases(engine, tmp_path):
    refs = make_cases(engine, 5) + make_cases(engine, 5, start=5, filer=VOLUNTEER)
    small = costs(engine, refs, tmp_path)

    refs += make_cases(engine, 95, start=10) + make_cases(engine, 95, start=105, filer=VOLUNTEER)
    large = costs(engine, refs, tmp_path)

    assert large == small
    # and each stays small: a join or two, not one query per case
    # (SQLite: PRAGMA query_only and BEGIN, the cases joined with family and child, their documents)
    assert small["xlsx all"] <= 4 and small["xlsx 温岭"] <= 4 and small["docx"] <= 6, small
    # the export of 200 cases holds all 200, each with its child and documents
    rows = list(load_workbook(tmp_path / "cases.xlsx").active.iter_rows(values_only=True))
    assert len(rows) == 1 + 200 // 2  # the last /export is the 温岭 staff member's: half the cases
    assert all(r[8].startswith("王小明") and r[11] for r in rows[1:])
