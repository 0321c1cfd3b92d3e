"""The SQL statements of one handled update of the real Application (issue 15, item 2), counted with
a ``before_cursor_execute`` listener on SQLite and on the real PostgreSQL.  No timing here: the CPU
per update is in ``python -m bench`` (docs/benchmarks.md).

An ordinary step (the user and the state exist), on SQLite: BEGIN IMMEDIATE, one INSERT that records
the update and returns the user, the state and whether messages are pending, the state's UPDATE,
the reply's INSERT (COMMIT is not a cursor statement), and the UPDATE that marks the reply sent —
in the next update's transaction, or when the bot is idle (as here, one user) in a short one of its
own (BEGIN IMMEDIATE + UPDATE).  On PostgreSQL: the lock with the dedupe, the read, the state's upsert
with the replies' INSERT in one statement (BEGIN is implicit), then the mark, under the user's lock, and in the same transaction one
more look for messages another worker queued for the chat meanwhile (storage/hot.py
`mark_sent_and_look`).  Was 11 (SQLite) before issue 15's work on the hot path."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bench.flow import Stats, User
from bench.layer import BenchRequest
from bench.sqlcount import StatementCounter
from e2e.pg import pg_schema, sqlite_or_postgres  # noqa: F401  (fixtures: SQLite or a fresh PostgreSQL schema)
from handlers.telegram_app import build_application
from storage.db import make_engine

ORDINARY_STEP = {"sqlite": 6, "postgres": 5}
# the average over a whole conversation: first contact (the user row) and filing (a case) cost more
WHOLE_CONVERSATION = {"sqlite": 7.0, "postgres": 6.0}


@pytest.fixture
def db(sqlite_or_postgres):
    return sqlite_or_postgres


class CountingUser(User):
    """A bench family whose every update is counted on its own."""

    def __init__(self, *args, engine, **kwargs):
        super().__init__(*args, **kwargs)
        self.engine, self.counts = engine, []

    async def _process(self, update: dict) -> None:
        with StatementCounter(self.engine) as counter:
            await super()._process(update)
        self.counts.append(counter.count)


def test_statements_per_handled_update(db):
    kind, url = db

    async def run() -> list[int]:
        engine = make_engine(url)
        request = BenchRequest(validate=True)
        app = build_application(token="123456:COUNT", engine=engine, request=request, maintenance=False)
        try:
            async with app:  # no post_init: no background loop adds statements of its own
                user = CountingUser(app, request, 4242, itertools.count(1), Stats(), engine=engine)
                assert "预申请编号：TZ" in await user.conversation(7)
                assert not request.problems, request.problems
                return user.counts
        finally:
            engine.dispose()

    counts = asyncio.run(run())
    # /start (first contact: the user row is made), then ordinary steps until the filing
    presses_and_answers = counts[1:12]
    assert max(presses_and_answers) <= ORDINARY_STEP[kind], counts
    assert sum(counts) / len(counts) <= WHOLE_CONVERSATION[kind], counts


def test_the_hot_path_records_each_update_once_and_takes_it_out_of_the_inbox(db):
    """handle's few statements keep the guarantees: an update handled twice is skipped the second
    time (nothing queued again), and a polled update leaves the inbox in the transaction that handles it."""
    from sqlmodel import Session, func, select

    from conversation.model import Input
    from conversation.session import handle
    from storage import inbox
    from storage.models import InboxUpdate, OutboxMessage

    _, url = db
    engine = make_engine(url)
    try:
        with Session(engine) as s, s.begin():
            inbox.store(s, bot_id=9, updates=[{"update_id": 51, "message": {"text": "/start"}}])
        first = handle(engine=engine, services=None, user_key="tg:5", inp=Input.typed("/start"), update_id=51,
                       bot_id=9, queued=[])
        again = handle(engine=engine, services=None, user_key="tg:5", inp=Input.typed("/start"), update_id=51,
                       bot_id=9, queued=[])
        assert first is not None and first.replies and again is None
        with Session(engine) as s:
            assert s.exec(select(func.count()).select_from(InboxUpdate)).one() == 0
            assert s.exec(select(func.count()).select_from(OutboxMessage)).one() == len(first.replies)
    finally:
        engine.dispose()
