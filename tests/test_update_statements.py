"""The SQL statements of one handled update of the real Application (issue 15, item 2), counted with
a ``before_cursor_execute`` listener on SQLite and on the real PostgreSQL.  No timing here: the CPU
per update is in ``python -m bench`` (docs/benchmarks.md).

An ordinary step (the user and the state exist): on SQLite BEGIN IMMEDIATE, the dedupe INSERT, one
read of the user, the state and the pending messages, the state's UPDATE, the reply's INSERT, then
after the send BEGIN IMMEDIATE and the UPDATE that marks it sent (COMMIT is not a cursor statement).
On PostgreSQL the lock and the dedupe are one statement, BEGIN is implicit, and the sender looks once
more for messages another worker queued for the chat meanwhile."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from telegram import Update

from bench.flow import Stats, User
from bench.layer import BenchRequest
from bench.sqlcount import StatementCounter
from e2e.pg import pg_schema  # noqa: F401  (a fixture: a fresh PostgreSQL schema per test)
from handlers.telegram_app import build_application
from storage.db import make_engine

ORDINARY_STEP = {"sqlite": 7, "postgres": 6}
# the average over a whole conversation: first contact (the user row) and filing (a case) cost more
WHOLE_CONVERSATION = {"sqlite": 8.0, "postgres": 7.0}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path, monkeypatch):
    monkeypatch.delenv("TONGZHU_ENV", raising=False)
    monkeypatch.delenv("TONGZHU_DATA_KEY", raising=False)
    url = (f"sqlite:///{tmp_path / 'u.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_schema").sa_url)
    return request.param, url


class CountingUser(User):
    """A bench family whose every update is counted on its own."""

    def __init__(self, *args, engine, **kwargs):
        super().__init__(*args, **kwargs)
        self.engine, self.counts = engine, []

    async def _feed(self, update: dict) -> str:
        with StatementCounter(self.engine) as counter:
            await self.app.process_update(Update.de_json(update, self.app.bot))
        self.counts.append(counter.count)
        calls = self.request.take(self.id)
        self.texts = [c.params.get("text", "") for c in calls if c.method in ("sendMessage", "editMessageText")]
        for c in calls:
            if c.params.get("reply_markup"):
                self.markup = c.params["reply_markup"]
        return "\n".join(self.texts)


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
