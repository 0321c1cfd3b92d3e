"""Several workers on PostgreSQL: after sending a chat's replies, the mark and the look for messages
another worker queued behind them (storage/hot.py `mark_sent_and_look`) take the user's lock, so an
update another worker is handling for the chat is either seen by the look or finds ours sent.
Real PostgreSQL, two connections; the wait for the lock is observed in pg_locks, never slept for."""

from __future__ import annotations

import threading
import time

from sqlmodel import Session

from conversation.model import Input, Reply
from conversation.session import handle
from e2e.pg import pg_schema  # noqa: F401  (fixture: a fresh PostgreSQL schema)
from storage import hot, outbox
from storage.db import make_engine


def _waiting_for_advisory_lock(engine, key: int) -> bool:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %(k)s",
            {"k": key & 0xFFFFFFFF}).scalar_one() > 0


def test_the_mark_waits_for_an_update_in_flight_and_its_look_sees_what_that_update_queued(pg_schema):  # noqa: F811
    engine = make_engine(pg_schema.sa_url)
    key = "tg:77"
    try:
        queued: list = []
        assert handle(engine=engine, services=None, user_key=key, inp=Input.typed("/start"), update_id=1,
                      queued=queued) is not None
        ours = [item.id for item in queued]
        assert ours, "our replies were leased to us"

        # another worker's update of the same chat, in flight: it holds the user's lock, found our
        # replies still pending and so queued its own without a lease (they go after ours)
        other = engine.connect()
        transaction = other.begin()
        row = hot.begin_update(other, user_key=key, update_id=2)
        assert row is not None and row.pending
        outbox.add_outcome(other, user_key=key, replies=[Reply("help")], queued=[], pending=row.pending)

        result: dict[str, bool] = {}
        worker = threading.Thread(target=lambda: result.setdefault(
            "due", hot.mark_sent_and_look(engine, item_ids=ours, user_key=key, channel="tg")))
        worker.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_advisory_lock(engine, hot.lock_key(key)):  # the mark waits for the lock
            assert worker.is_alive() and time.monotonic() < deadline, "the mark did not wait for the user's lock"
        transaction.commit()
        other.close()
        worker.join(30)
        assert result == {"due": True}, "the look found the message the other worker queued behind ours"

        with Session(engine) as session:  # ours are marked sent; the other worker's is what is left
            assert [item.reply.template for item in outbox.pending(session, user_key=key)] == ["help"]
    finally:
        engine.dispose()


def test_an_update_after_the_mark_finds_our_replies_sent_and_takes_its_own(pg_schema):  # noqa: F811
    engine = make_engine(pg_schema.sa_url)
    key = "tg:78"
    try:
        queued: list = []
        handle(engine=engine, services=None, user_key=key, inp=Input.typed("/start"), update_id=1, queued=queued)
        assert hot.mark_sent_and_look(engine, item_ids=[i.id for i in queued], user_key=key, channel="tg") is False
        again: list = []
        handle(engine=engine, services=None, user_key=key, inp=Input.typed("/help"), update_id=2, queued=again)
        assert again, "nothing pending any more: the next update's replies are leased to its own sender"
    finally:
        engine.dispose()
