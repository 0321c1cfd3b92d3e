"""End to end in webhook mode (issue 6): `python bot.py --webhook --workers 2` on PostgreSQL.

Each test gets a fresh schema on the local PostgreSQL server (skipped when there is none), a fake
Bot API server for the bot's replies, and delivers updates by POST /telegram as Telegram does.  The
server answers a delivery after the update was processed, so the replies are there when it returns.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import zlib

import httpx
import pytest
from sqlmodel import Session, func, select

from e2e.fixtures import api, bots, transcripts  # noqa: F401 (pytest fixtures)
from e2e.pg import pg_schema  # noqa: F401 (pytest fixture)
from e2e.process import SECRET
from e2e.users import TEXT_METHODS, ScriptedUser, Webhook, close_clients
from storage import repo
from storage.db import make_engine
from storage.models import ConversationState, PreApplication, ProcessedUpdate
from tg import child_id

GRANDMA = 6001


def engine_of(schema):
    return make_engine(schema.sa_url, migrate=False)


def state_row(schema, user_id: int) -> ConversationState | None:
    engine = engine_of(schema)
    try:
        with Session(engine) as s:
            return s.get(ConversationState, f"tg:{user_id}")
    finally:
        engine.dispose()


def count(schema, model) -> int:
    engine = engine_of(schema)
    try:
        with Session(engine) as s:
            return s.exec(select(func.count()).select_from(model)).one()
    finally:
        engine.dispose()


def post(client: httpx.Client, url: str, update: dict, secret: str = SECRET) -> int:
    """What api.deliver_webhook does, on a given (worker-pinned) keep-alive connection."""
    return client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}).status_code


def deliver_at_once(bot, updates: list[dict]) -> list[int]:
    """POST the updates at the same moment, each to another worker (a keep-alive client pinned to it)."""
    clients = bot.pinned_clients()
    statuses: list[int] = []
    barrier = threading.Barrier(len(updates))

    def deliver(client, update):
        barrier.wait(10)
        statuses.append(post(client, bot.url, update))

    try:
        threads = [threading.Thread(target=deliver, args=pair) for pair in zip(clients.values(), updates)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        close_clients(clients)
    return statuses


def to_the_father_question(user: ScriptedUser) -> None:
    user.say("/start", until="是谁在问")
    user.press("role:self", until="哪个地方")
    user.say("温岭", until="孩子现在安全吗")
    user.press("c:safety:0")
    user.to_the_father_question_after_the_age()


def test_a_wrong_secret_gets_403_and_changes_nothing(api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA)
    for secret in ("wrong", "", SECRET + "x"):
        assert api.deliver_webhook(bot.url, grandma.text_update("/start"), secret) == 403
    with httpx.Client(trust_env=False, timeout=10) as client:
        assert client.post(bot.url, json=grandma.text_update("/start")).status_code == 403  # no header
        assert client.post(bot.url, content=b"not json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 400
    assert transcripts.calls(GRANDMA) == [] and api.calls("sendMessage") == []
    assert count(pg_schema, ConversationState) == 0 and count(pg_schema, ProcessedUpdate) == 0

    grandma.transport = Webhook(api, bot.url, SECRET)
    assert "是谁在问" in grandma.say("/start", until="是谁在问")  # the right secret works
    assert bot.stop() == 0, bot.log()
    assert api.problems == []


def test_a_family_from_start_to_a_filed_case_on_two_workers(api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    assert len(bot.wait_ready()) == 2
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    result = grandma.screening()
    assert "孤儿" in result and "温岭" in result
    grandma.file_case("王小明", child_id(9))
    out = grandma.press("submit", until="预申请编号：TZ")
    assert "已提交" in grandma.say("/status", until="已提交")
    assert bot.stop() == 0, bot.log()

    engine = engine_of(pg_schema)
    with Session(engine) as s:
        cases = s.exec(select(PreApplication)).all()
        assert len(cases) == 1 and cases[0].reference in out
    engine.dispose()
    received = transcripts.texts(GRANDMA, "sendMessage")
    assert len(received) == sum(len(t) for t in grandma.sent.values()), "one answer per update"
    assert api.problems == []


def test_two_updates_of_one_chat_at_once_on_two_workers_are_handled_one_at_a_time(
        api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    to_the_father_question(grandma)
    before = state_row(pg_schema, GRANDMA).version

    # two different answers under the same question, pressed at once, each to another worker
    updates = [grandma.callback_update("c:father:1"), grandma.callback_update("c:father:0")]
    assert deliver_at_once(bot, updates) == [200, 200]

    row = state_row(pg_schema, GRANDMA)
    assert row.version == before + 2, "each update read the state the other one wrote"
    state = repo.decode_state(row.state_json)
    # whichever came first answered the father question; the other one's button was stale by then
    assert "father" in state["answers"] and state["current"] != "father", state
    answered = {c.params["callback_query_id"] for c in api.calls("answerCallbackQuery")}
    assert {u["callback_query"]["id"] for u in updates} <= answered
    texts = transcripts.texts(GRANDMA)
    assert sum("已经不管用了" in t for t in texts) == 1, "the second answer was handled after the first"
    assert bot.stop() == 0, bot.log()
    assert api.problems == []


def test_a_worker_waits_for_the_chat_lock_held_elsewhere(api, transcripts, bots, pg_schema):
    """The advisory lock on the user key: while another transaction holds it, the update waits."""
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    grandma.say("/start", until="是谁在问")
    key = zlib.crc32(f"tg:{GRANDMA}".encode())
    update = grandma.callback_update("role:self")
    statuses: list[int] = []
    with pg_schema.connect() as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (key,))  # transaction open: the lock is held
        mark = len(transcripts.calls(GRANDMA))
        thread = threading.Thread(target=lambda: statuses.append(api.deliver_webhook(bot.url, update, SECRET, 60)))
        thread.start()
        with pg_schema.connect(autocommit=True) as probe:
            deadline = time.monotonic() + 30
            while not probe.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                    "AND objid::bigint = %s", (key,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the worker never asked for the chat's lock"
                time.sleep(0.02)  # a bounded probe of pg_locks, not a synchronisation
        assert thread.is_alive() and statuses == [], "the update waits while the lock is held"
        assert [c for c in transcripts.calls(GRANDMA)[mark:] if c.method in TEXT_METHODS] == []
        holder.rollback()  # release
    thread.join(60)
    assert statuses == [200]
    transcripts.wait(GRANDMA, lambda c: "哪个地方" in str(c.params.get("text", "")), mark, 30)
    assert bot.stop() == 0, bot.log()
    assert api.problems == []


def test_the_same_update_delivered_twice_is_processed_once(api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    grandma.say("/start", until="是谁在问")
    grandma.press("role:self", until="哪个地方")
    before = state_row(pg_schema, GRANDMA).version

    place = grandma.text_update("温岭")
    assert deliver_at_once(bot, [place, place]) == [200, 200]  # at once, to both workers
    assert api.deliver_webhook(bot.url, place, SECRET) == 200  # and once more, later
    grandma.press("c:safety:0")  # the conversation goes on from the place answer

    texts = transcripts.texts(GRANDMA)
    assert sum("孩子现在安全吗" in t for t in texts) == 1, texts
    assert state_row(pg_schema, GRANDMA).version == before + 2  # the place once, then safety
    assert bot.stop() == 0, bot.log()
    assert api.problems == []


def test_a_double_tap_on_submit_to_both_workers_files_one_case(api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    assert "孤儿" in grandma.screening()
    grandma.file_case("王小明", child_id(9))
    taps = [grandma.callback_update("submit"), grandma.callback_update("submit")]
    mark = len(transcripts.calls(GRANDMA))
    assert deliver_at_once(bot, taps) == [200, 200]
    answers = [c.params["text"] for c in transcripts.calls(GRANDMA)[mark:] if c.method in TEXT_METHODS]
    assert sum("预申请编号：TZ" in t for t in answers) == 1 and sum("已经提交过了" in t for t in answers) == 1
    assert count(pg_schema, PreApplication) == 1
    assert bot.stop() == 0, bot.log()
    assert api.problems == []


def test_sigkill_then_restart_goes_on_at_the_same_question(api, transcripts, bots, pg_schema):
    bot = bots.webhook(pg_schema.url)
    grandma = ScriptedUser(api, transcripts, GRANDMA, transport=Webhook(api, bot.url, SECRET))
    to_the_father_question(grandma)
    father = grandma.callback_update("c:father:1")
    assert "母亲" in grandma.send(father)
    bot.kill()  # kill -9 the server and its workers

    bot = bots.webhook(pg_schema.url)
    grandma.transport = Webhook(api, bot.url, SECRET)
    mark = len(transcripts.calls(GRANDMA))
    grandma.transport(father)  # Telegram redelivers an update it saw no answer to: answered already
    assert [c for c in transcripts.calls(GRANDMA)[mark:] if c.method in TEXT_METHODS] == []
    out = grandma.press("c:mother:1")
    assert "第" in out and "母亲" not in out and "父亲" not in out and "哪个地方" not in out, out
    summary = grandma.unsure_until_summary()
    assert "温岭" in summary and summary.count("已去世") >= 2
    assert bot.stop() == 0, bot.log()
    texts = transcripts.texts(GRANDMA, "sendMessage")
    assert sum("母亲" in t and "第" in t for t in texts) == 1
    assert api.problems == []


# -- the maintenance job: once, not once per worker ---------------------------------------------

COUNT_DELETES = """
CREATE TABLE e2e_deletes (pid int NOT NULL, n int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION e2e_count_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO e2e_deletes (pid, n) SELECT pg_backend_pid(), count(*) FROM old_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER e2e_count_deletes AFTER DELETE ON conversation_state
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION e2e_count_deletes();
"""


def seed_stale_session(schema, days_old: int = 90) -> None:
    engine = make_engine(schema.sa_url)  # migrates the fresh schema
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_old)
    with Session(engine) as s, s.begin():
        s.add(ConversationState(user_key="tg:424242", state_json="{}", version=3, updated_at=old))
        s.add(ConversationState(user_key="tg:434343", state_json="{}", version=1))  # fresh: kept
        s.add(ProcessedUpdate(update_id=1, user_key="tg:424242", processed_at=old))
    engine.dispose()


def test_the_maintenance_job_runs_in_one_worker(api, bots, pg_schema):
    seed_stale_session(pg_schema)
    with pg_schema.connect(autocommit=True) as conn:
        conn.execute(COUNT_DELETES)
    bot = bots.webhook(pg_schema.url)  # both workers start their maintenance loop at start-up
    assert len(bot.wait_ready()) == 2
    # the first round of each worker was handed to a thread before its worker answered /healthz;
    # a graceful stop lets a round in progress finish
    assert bot.stop() == 0, bot.log()

    with pg_schema.connect() as conn:
        rounds = conn.execute("SELECT pid, n FROM e2e_deletes ORDER BY at").fetchall()
        left = {r[0] for r in conn.execute("SELECT user_key FROM conversation_state")}
    assert left == {"tg:434343"}, "the stale conversation is deleted, the fresh one kept"
    assert [n for _, n in rounds if n] == [1], f"exactly one deletion: {rounds}"
    # Rounds never overlap (the job's advisory lock), and a worker whose round comes after the
    # other's has committed finds it in the audit log and skips it: one round, not one per worker.
    assert [n for _, n in rounds] == [1], rounds
    print(f"maintenance rounds at start-up: {rounds}")
    assert api.problems == []


def test_run_maintenance_skips_while_another_worker_holds_the_job(pg_schema):
    from casework.jobs import JOB_LOCK, run_maintenance

    seed_stale_session(pg_schema)
    engine = engine_of(pg_schema)
    try:
        with pg_schema.connect() as other:  # another worker, in the middle of its round
            assert other.execute("SELECT pg_try_advisory_xact_lock(%s)", (JOB_LOCK,)).fetchone()[0]
            assert run_maintenance(engine, days=30) is None
            assert count(pg_schema, ConversationState) == 2  # nothing deleted
            other.rollback()
        assert run_maintenance(engine, days=30) == {"sessions": 1, "updates": 1, "outbox": 0}
        assert run_maintenance(engine, days=30) == {"sessions": 0, "updates": 0, "outbox": 0}
    finally:
        engine.dispose()


def test_a_round_right_after_another_workers_round_is_skipped(pg_schema):
    from casework.jobs import run_maintenance

    seed_stale_session(pg_schema)
    engine = engine_of(pg_schema)
    try:
        assert run_maintenance(engine, days=30, every=3600) == {"sessions": 1, "updates": 1, "outbox": 0}  # worker A
        assert run_maintenance(engine, days=30, every=3600) is None  # worker B, a moment later: done
    finally:
        engine.dispose()
