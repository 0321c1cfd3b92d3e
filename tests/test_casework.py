"""Pre-applications the office can work with (issue 4), through the real Application."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlmodel import Session, select

import bot
from storage.models import AuditLog, Family, PreApplication, Status
from e2e.pg import pg_schema  # noqa: F401  (a fixture: a fresh PostgreSQL schema per test)
from tg import Harness, child_id, file_case

GRANDMA, OTHER_GRANDMA, STAFF, QIJIANG_STAFF, VOLUNTEER = 5001, 5002, 9001, 9002, 7001


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    """Each scenario runs on SQLite and on the real PostgreSQL (skipped, saying why, without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return request.getfixturevalue("pg_schema").url


def add_role(db_url: str, telegram_id: int, role: str, region: str | None = None) -> None:
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = db_url
    try:
        args = ["staff", "add", str(telegram_id), "--role", role] + (["--region", region] if region else [])
        assert bot.main(args) == 0
    finally:
        if old is None:
            os.environ.pop("DATABASE_URL")
        else:
            os.environ["DATABASE_URL"] = old


def texts_to(h: Harness, chat_id: int) -> str:
    return "\n".join(h.request.sent_texts(chat_id))


def test_staff_ask_for_documents_at_once_then_accept_and_the_family_hears_each_step(url):

    async def scenario():
        async with Harness(url) as h:
            add_role(url, STAFF, "staff", "温岭")
            ref = await file_case(h, GRANDMA)

            out = await h.say(STAFF, "/queue")
            assert ref in out
            out = await h.press(STAFF, ref)
            assert "王小明" in out and "孤儿" in out and "依据" in out
            assert "138****5678" in out and "13812345678" not in out

            await h.press(STAFF, "要补材料")
            before = len(h.request.sent_texts(GRANDMA))
            await h.press(STAFF, "☐")
            buttons = [b["text"] for b in h.buttons(STAFF)]
            second = next(b for b in buttons if b.startswith("☐"))
            await h.press(STAFF, second)
            assert len(h.request.sent_texts(GRANDMA)) == before, "nothing is sent before 一次性告知"
            await h.press(STAFF, "一次性告知家属")
            told = h.request.sent_texts(GRANDMA)[before:]
            assert len(told) == 1, "every missing document in one message"
            assert "需补充材料" in told[0] and "1." in told[0] and "2." in told[0]

            out = await h.say(GRANDMA, "/status")
            assert "需补充材料" in out and "还要补" in out

            await h.press_data(STAFF, f"s:open:{ref}")
            await h.press(STAFF, "受理并转部门")
            await h.press(STAFF, "民政部门")
            assert "已受理" in h.request.sent_texts(GRANDMA)[-1] and "民政部门" in h.request.sent_texts(GRANDMA)[-1]
            assert h.request.problems == []
        with Session(h.engine) as s:
            case = s.exec(select(PreApplication)).one()
            assert case.status == Status.accepted and case.department == "民政部门"
    asyncio.run(scenario())


def test_an_urgent_case_reaches_the_places_staff_the_moment_it_is_filed(url):

    async def scenario():
        async with Harness(url) as h:
            add_role(url, STAFF, "staff", "温岭")
            add_role(url, QIJIANG_STAFF, "staff", "綦江")
            ref = await file_case(h, GRANDMA, story="孩子他叔喝了酒就打孩子")
            alert = texts_to(h, STAFF)
            assert "紧急" in alert and ref in alert
            assert texts_to(h, QIJIANG_STAFF) == "", "another place's staff hear nothing"
            out = await h.say(STAFF, "/queue")
            assert out.index(ref) < len(out) and "🔴" in out
    asyncio.run(scenario())


def test_a_volunteer_files_for_two_families_and_sees_only_those(url):

    async def scenario():
        async with Harness(url) as h:
            add_role(url, VOLUNTEER, "volunteer")
            ref1 = await file_case(h, VOLUNTEER, for_family=True, child_name="李一", number=child_id(9, seq="111"))
            ref2 = await file_case(h, VOLUNTEER, for_family=True, child_name="张二", number=child_id(9, seq="222"))
            await file_case(h, GRANDMA, child_name="王小明", number=child_id(9, seq="333"))
            out = await h.say(VOLUNTEER, "/status")
            assert ref1 in out and ref2 in out and "李一" in out and "张二" in out and "王小明" not in out
            consent = [t for t in h.request.sent_texts(VOLUNTEER) if "提交预申请之前" in t]
            assert consent and "替家庭提交" in consent[0]
        with Session(h.engine) as s:
            assert {f.consent_by for f in s.exec(select(Family))} == {"volunteer_for_guardian", "guardian"}
    asyncio.run(scenario())


def test_a_forged_callback_and_a_non_staff_queue_are_refused_and_logged(url):

    async def scenario():
        async with Harness(url) as h:
            add_role(url, QIJIANG_STAFF, "staff", "綦江")
            ref = await file_case(h, GRANDMA)
            out = await h.say(OTHER_GRANDMA, "/queue")
            assert "只有负责" in out and ref not in out
            out = await h.press_data(OTHER_GRANDMA, f"s:dept:{ref}:0")
            assert "只有负责" in out
            out = await h.press_data(QIJIANG_STAFF, f"s:why:{ref}:0")  # staff, but of another place
            assert "只有负责" in out
            out = await h.say(QIJIANG_STAFF, f"/case {ref}")
            assert "王小明" not in out
            out = await h.say(OTHER_GRANDMA, f"/case {ref}")  # not staff at all
            assert "王小明" not in out
        with Session(h.engine) as s:
            assert s.exec(select(PreApplication)).one().status == Status.submitted
            refused = s.exec(select(AuditLog).where(AuditLog.allowed == False)).all()  # noqa: E712
            assert len(refused) == 5
            assert refused[-1].case_ref == ref, "a refused /case keeps the reference that was tried"
    asyncio.run(scenario())


def test_a_refusal_needs_a_reason_and_a_second_case_for_the_same_child_is_flagged(url):

    async def scenario():
        async with Harness(url) as h:
            add_role(url, STAFF, "staff", "温岭")
            number = child_id(9)
            ref1 = await file_case(h, GRANDMA, number=number)
            ref2 = await file_case(h, OTHER_GRANDMA, number=number)
            assert ref1 in texts_to(h, STAFF) and ref2 in texts_to(h, STAFF)
            assert "已经有一份还在办理的预申请" in h.request.sent_texts(OTHER_GRANDMA)[-1]
            out = await h.say(STAFF, f"/refuse {ref2}")
            assert "必须写明理由" in out
            out = await h.say(STAFF, f"/refuse {ref2} 与 {ref1} 重复，已合并办理")
            assert "不予受理" in out
            assert "与" in h.request.sent_texts(OTHER_GRANDMA)[-1] and "重复" in h.request.sent_texts(OTHER_GRANDMA)[-1]
    asyncio.run(scenario())


def test_forget_deletes_the_conversation_and_unreviewed_cases(url):

    async def scenario():
        async with Harness(url) as h:
            await file_case(h, GRANDMA)
            out = await h.say(GRANDMA, "/forget")
            assert "已经删除" in out and "1 份预申请" in out
            out = await h.say(GRANDMA, "/status")
            assert "还没有提交过" in out
        with Session(h.engine) as s:
            assert s.exec(select(PreApplication)).all() == []
    asyncio.run(scenario())
