"""The desk over HTTP in-process (Starlette's TestClient on the real app and a real database): what
the browser tests do not cover — the list as filtered to Excel, the dashboard's figures, an idle
session, a volunteer kept out, the answers kept in words at filing."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from bench.caseload import Family
from casework.actions import CaseActions
from desk import queries
from desk.accounts import add_account
from desk.app import create_desk_app
from storage.db import make_engine
from storage.models import PreApplication, Role, StaffSession, Status, User

WENLING = "浙江省台州市温岭市"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('desk') / 'desk.db'}")
    refs = {
        "ming": Family(engine, "web:a").file_case(region="温岭", child_name="王小明",
                                                  story="孩子爸妈都不在了，我一个人带着他"),
        "yu": Family(engine, "web:b").file_case(region="温岭", child_name="陈小雨", applicant="陈美华", safe=False),
        "hong": Family(engine, "web:c").file_case(region="綦江", child_name="李小红", applicant="李桂兰"),
    }
    with Session(engine) as s, s.begin():
        add_account(s, username="wang", password="wenling desk 2026", role=Role.staff, region=WENLING)
        add_account(s, username="xiaoli", password="volunteer 2026 pw", role=Role.volunteer, region=None)
    app = Starlette(routes=[Mount("/desk", app=create_desk_app(engine=engine))])
    yield engine, app, refs
    engine.dispose()


def signed_in(app, username, password) -> TestClient:
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/desk/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post("/desk/login", data={"csrf": csrf, "username": username, "password": password})
    return client


def test_the_answers_are_kept_in_words_at_filing(world):
    engine, _, refs = world
    with Session(engine) as s:
        case = s.exec(select(PreApplication).where(PreApplication.reference == refs["ming"])).one()
        record = json.loads(case.answers_json)
    assert record["who"] == "家属本人"
    assert {"question": "孩子的年龄", "answer": "9岁"}.items() <= next(
        a for a in record["answers"] if a["question"] == "孩子的年龄").items()
    assert all(a["at"] for a in record["answers"]), "when each answer was given"
    assert record["told"][0]["text"] == "孩子爸妈都不在了，我一个人带着他"
    assert case.place == WENLING and case.categories == "/孤儿/"


def test_the_excel_is_the_list_as_filtered_with_the_urgent_reason(world):
    _, app, refs = world
    client = signed_in(app, "wang", "wenling desk 2026")
    book = openpyxl.load_workbook(io.BytesIO(client.get("/desk/export.xlsx?q=陈小雨").content))
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [refs["yu"]], "only what the filter shows"
    header = rows[0]
    urgent = rows[1][header.index("紧急原因")]
    assert rows[1][header.index("紧急")] == "是" and urgent
    everything = openpyxl.load_workbook(io.BytesIO(client.get("/desk/export.xlsx?status=all").content))
    refs_out = [r[0] for r in list(everything.active.iter_rows(values_only=True))[1:]]
    assert sorted(refs_out) == sorted([refs["yu"], refs["ming"]]), "no other place's case"
    ming = next(r for r in everything.active.iter_rows(values_only=True) if r[0] == refs["ming"])
    answers = ming[header.index("家属的回答")]
    assert "孩子的年龄：9岁" in answers and "孩子爸妈都不在了" in answers


def test_dashboard_counts_overdue_and_median_days(world):
    engine, app, refs = world
    with Session(engine) as s, s.begin():
        wang = s.exec(select(User).where(User.username == "wang")).one()
        case = s.exec(select(PreApplication).where(PreApplication.reference == refs["ming"])).one()
        long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
        s.exec(update(PreApplication).where(PreApplication.id == case.id)
               .values(created_at=long_ago, due_at=long_ago + dt.timedelta(days=21)))
    with Session(engine) as s:
        d = queries.dashboard(s, prefixes=[WENLING])
    assert (d.open_total, d.urgent_open, d.overdue) == (2, 1, 1)
    assert [r["reference"] for r in d.overdue_cases] == [refs["ming"]]
    assert dict(d.by_place) == {WENLING: 2}
    with Session(engine) as s, s.begin():
        wang = s.exec(select(User).where(User.username == "wang")).one()
        case = s.exec(select(PreApplication).where(PreApplication.reference == refs["ming"])).one()
        CaseActions(s, wang).transition(case, Status.refused, reason="家庭已撤回申请")
    with Session(engine) as s:
        d = queries.dashboard(s, prefixes=[WENLING])
    assert (d.open_total, d.overdue, d.decided) == (1, 0, 1)
    assert 39 <= d.median_days <= 41
    page = signed_in(app, "wang", "wenling desk 2026").get("/desk/dashboard")
    assert page.status_code == 200 and "超过办理时限" in page.text and f"{d.median_days}" in page.text


def test_an_idle_session_ends_and_a_volunteer_is_kept_out(world):
    engine, app, refs = world
    client = signed_in(app, "wang", "wenling desk 2026")
    assert client.get(f"/desk/case/{refs['yu']}").status_code == 200
    with Session(engine) as s, s.begin():
        s.exec(update(StaffSession).values(last_seen=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    again = client.get(f"/desk/case/{refs['yu']}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/desk/login")
    volunteer = signed_in(app, "xiaoli", "volunteer 2026 pw")
    assert volunteer.get("/desk/").status_code == 403
    assert volunteer.get(f"/desk/case/{refs['yu']}").status_code == 403
