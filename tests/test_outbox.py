"""The outbox (storage/outbox.py): queued with the state, delivered in order, never lost, never shown
more than twice; pulled by the web chat and the console; never holding a number in clear."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlmodel import Session

from casework.service import CaseService
from conversation.model import Button, Input, Notice, Reply
from conversation.session import handle
from storage import outbox
from storage.db import make_engine
from storage.models import Status


@pytest.fixture()
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'o.db'}")
    yield engine
    engine.dispose()


def put(engine, key: str, *replies: Reply, notices=()) -> None:
    with Session(engine) as s, s.begin():
        outbox.add_outcome(s, user_key=key, replies=list(replies), notices=list(notices))


def deliver(engine, send, **kw) -> outbox.Counts:
    return asyncio.run(outbox.deliver(engine, channel="tg", send=send, **kw))


def statuses(engine, key: str) -> list[str]:
    with Session(engine) as s:
        return [r.status for r in s.exec(outbox.OutboxMessage.__table__.select()
                                         .where(outbox.T.c.user_key == key).order_by(outbox.T.c.id))]


def test_a_reply_keeps_its_template_context_and_buttons_for_each_channel(engine):
    when = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.timezone.utc)
    reply = Reply("status", {"at": when, "day": when.date(), "s": Status.needs_documents, "tup": (1, 2)},
                  [[Button("是", "c:x:0"), Button("不是", "c:x:1")]], edit=True, numbered=False)
    put(engine, "web:7", reply)
    with Session(engine) as s, s.begin():
        assert outbox.pending_count(s, user_key="web:7") == 1
        [item] = outbox.take(s, user_key="web:7")
        assert outbox.take(s, user_key="web:7") == [], "taken once: now shown"
    got = item.reply
    assert got.template == "status" and got.buttons == reply.buttons and got.edit and not got.numbered
    assert got.context["at"] == when and got.context["day"] == when.date()
    assert got.context["s"] is Status.needs_documents and got.context["tup"] == [1, 2]
    assert item.channel == "web" and statuses(engine, "web:7") == ["shown"]


def test_messages_go_out_in_order_and_a_429_holds_the_later_ones(engine):
    put(engine, "tg:1", Reply("help"), Reply("error"), Reply("cancelled"))
    seen, faults = [], iter([None, outbox.RetryLater(0)])

    async def send(item):
        fault = next(faults, None)
        if fault:
            raise fault
        seen.append(item.reply.template)

    counts = deliver(engine, send)
    assert seen == ["help"] and counts.retried == 1, "after a 429 the later ones wait behind it"
    deliver(engine, send)
    assert seen == ["help", "error", "cancelled"]
    assert statuses(engine, "tg:1") == ["sent"] * 3


def test_an_unknown_outcome_is_tried_once_more_then_left(engine):
    put(engine, "tg:2", Reply("help"))
    tries = []

    async def send(item):
        tries.append(item.unknown)
        raise outbox.OutcomeUnknown("read timeout")

    for _ in range(4):
        deliver(engine, send)
        with Session(engine) as s, s.begin():  # the retry waits a moment: let it be due now
            s.execute(outbox.T.update().values(claimed_until=None))
    assert tries == [0, 1], "sent at most twice"
    assert statuses(engine, "tg:2") == ["unknown"]


def test_a_blocked_user_does_not_hold_up_anyone(engine):
    put(engine, "tg:3", Reply("help"))
    put(engine, "tg:4", Reply("help"))
    sent = []

    async def send(item):
        if item.user_key == "tg:3":
            raise outbox.Undeliverable("Forbidden: bot was blocked by the user")
        sent.append(item.user_key)

    counts = deliver(engine, send)
    assert sent == ["tg:4"] and counts.failed == 1
    assert statuses(engine, "tg:3") == ["failed"]


def test_a_long_message_sent_in_parts_does_not_repeat_the_parts_already_sent(engine):
    put(engine, "tg:5", Reply("help"))
    calls = []

    async def send(item):
        calls.append(item.parts_sent)
        if len(calls) == 1:
            raise outbox.RetryLater(0, parts_sent=2)

    deliver(engine, send)
    deliver(engine, send)
    assert calls == [0, 2]


def test_a_lease_keeps_a_second_sender_off_a_users_messages(engine):
    put(engine, "tg:6", Reply("help"))
    with Session(engine) as s, s.begin():
        assert len(outbox.claim(s, channel="tg")) == 1
    with Session(engine) as s, s.begin():
        assert outbox.claim(s, channel="tg") == [], "held by the first sender"
        assert outbox.release_all(s, channel="tg") == 1
    with Session(engine) as s, s.begin():
        assert len(outbox.claim(s, channel="tg")) == 1


def test_a_step_queues_its_replies_and_notices_with_the_state(engine):
    services = CaseService(engine=engine)
    out = handle(engine=engine, services=services, user_key="wx:openid-1", inp=Input.typed("/start"), update_id=5)
    with Session(engine) as s, s.begin():
        items = outbox.take(s, user_key="wx:openid-1")
    assert [i.reply.template for i in items] == [r.template for r in out.replies] and items[0].channel == "wx"
    again = handle(engine=engine, services=services, user_key="wx:openid-1", inp=Input.typed("/start"),
                   update_id=5)
    assert again is None
    with Session(engine) as s:
        assert outbox.pending_count(s, user_key="wx:openid-1") == 0, "a redelivered update queues nothing"
    put(engine, "tg:9", notices=[Notice("tg:10", Reply("help"))])
    with Session(engine) as s:
        [notice] = outbox.pending(s, user_key="tg:10")
    assert notice.kind == "notice"


def test_the_payload_is_encrypted_and_delivered_rows_are_purged(engine, tmp_path):
    put(engine, "tg:11", Reply("field", {"typed": "13812345678"}))
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("o.db*"))
    assert b"13812345678" not in raw
    with Session(engine) as s, s.begin():
        [item] = outbox.claim(s, channel="tg")
        assert item.reply.context["typed"] == "13812345678"
        outbox.mark_sent(s, item_id=item.id)
        assert outbox.purge(s, older_than=dt.timedelta(0), now=outbox.utcnow() + dt.timedelta(seconds=1)) == 1


def test_the_console_shows_what_the_outbox_holds(tmp_path, monkeypatch):
    import io

    from handlers.console import run_console

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    out = io.StringIO()
    run_console(stdin=io.StringIO("1\n"), stdout=out, user="t")
    assert "您好" in out.getvalue() and "哪个地方" in out.getvalue()
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as s:
        assert outbox.pending_count(s, user_key="console:t") == 0, "the console took all it showed"
    engine.dispose()
