"""China's clock (clock.py): what a family or the office reads is dated in China (UTC+8), whatever the
server's zone.  At 20:30 UTC on 4 December it is already 04:30 on 5 December in Wenling: a family
filing then files on the 5th, and a child born on 5 December 2008 is 18 that morning."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

import clock
from bench.exports import make_cases
from conversation.idcard import age_on
from storage.db import make_engine
from storage.models import PreApplication

EVENING_UTC = dt.datetime(2026, 12, 4, 20, 30, tzinfo=dt.timezone.utc)  # 2026-12-05 04:30 in China


@pytest.fixture
def evening(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: EVENING_UTC.astimezone(clock.BEIJING))


def test_a_stored_moment_is_shown_on_chinas_clock():
    assert clock.local(EVENING_UTC) == "2026-12-05 04:30"
    assert clock.local(EVENING_UTC.replace(tzinfo=None)) == "2026-12-05 04:30"  # SQLite's naive UTC
    assert clock.local(EVENING_UTC.isoformat(), "%Y年%m月%d日") == "2026年12月05日"
    assert clock.local(None) == "" and clock.local("不是时间") == "不是时间"


def test_a_case_filed_on_a_chinese_morning_carries_that_days_date(evening, tmp_path):
    assert clock.today() == dt.date(2026, 12, 5)
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        [reference] = make_cases(engine, 1)
        assert reference.startswith("TZ20261205-")
        with Session(engine) as s:
            assert s.exec(select(PreApplication.reference)).one() == reference
    finally:
        engine.dispose()


def test_a_child_turns_18_on_the_chinese_date(evening):
    assert age_on(dt.date(2008, 12, 5)) == 18
    assert age_on(dt.date(2008, 12, 6)) == 17


def test_the_telegram_desk_and_a_familys_status_show_chinas_time(tmp_path):
    from casework import staff
    from casework.service import CaseService
    from conversation.model import Who
    from sqlalchemy import update
    from storage import repo
    from storage.models import Role, StatusChange
    from templates import render_reply

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        [reference] = make_cases(engine, 1, filer="tg:777")
        with Session(engine) as s, s.begin():  # filed, and last changed, at 20:30 UTC
            s.exec(update(PreApplication).values(created_at=EVENING_UTC, updated_at=EVENING_UTC))
            s.exec(update(StatusChange).values(at=EVENING_UTC))
            repo.set_role(s, user_key="tg:2", role=Role.staff, region="浙江省台州市温岭市", telegram_id=2)
        desk = staff.handle(engine=engine, user_key="tg:2", text=f"/case {reference}", action=None)
        text = "\n".join(render_reply(r) for r in desk.replies)
        assert "2026-12-05 04:30" in text and "12-05 04:30" in text.split("提交：", 1)[1], text
        assert "12-04" not in text, text
        queue = "\n".join(render_reply(r) for r in staff.handle(engine=engine, user_key="tg:2", text="/queue",
                                                                   action=None).replies)
        assert "2026-12-05 04:30" in queue, queue
        with Session(engine) as s, s.begin():
            [mine] = CaseService(engine=engine).bind(s).my_cases(who=Who("tg:777"))
        assert mine["updated"] == "2026-12-05"
    finally:
        engine.dispose()


def test_an_office_limit_counts_working_days_on_chinas_calendar():
    from casework.deadlines import add_working_days

    friday_morning_in_china = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.timezone.utc)  # Thursday in UTC
    due = add_working_days(friday_morning_in_china, 1)
    assert due.astimezone(clock.BEIJING).strftime("%a %d %H:%M") == "Mon 07 04:00"  # not Saturday the 5th
    assert add_working_days(friday_morning_in_china.replace(tzinfo=None), 1) == due.replace(tzinfo=None)
    saturday_in_china = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.timezone.utc)  # Friday in UTC
    assert add_working_days(saturday_in_china, 1).astimezone(clock.BEIJING).strftime("%a %d") == "Mon 07"
