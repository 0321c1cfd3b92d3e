"""Fault injection end to end: the real `python bot.py` (long polling on SQLite; the webhook with two
workers on PostgreSQL) against the fake Bot API answering 429, 500, late (after the bot's read
timeout), dropping connections and refusing too-old callback answers — while the bot is killed with
SIGKILL at random moments under load and started again.  Families go through the questionnaire and
file their cases the whole time.

Nothing lost: every family gets to the end and every filed case's reference number reaches its
family; nothing shown more than twice in a row.  The figures are printed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import Session, select

from e2e.fixtures import api, bots, transcripts  # noqa: F401 (pytest fixtures)
from e2e.pg import pg_schema  # noqa: F401
from e2e.process import SECRET
from e2e.users import TEXT_METHODS, ScriptedUser
from storage.db import make_engine
from storage.models import PreApplication
from tg import child_id

FAULTS = {"sendMessage": {"429": 0.03, "500": 0.03, "slow": 0.03, "drop": 0.03},
          "editMessageText": {"500": 0.05, "drop": 0.03},
          "answerCallbackQuery": {"too_old": 0.2, "500": 0.05}}
ENV = {"TELEGRAM_READ_TIMEOUT": "1.0"}
FILERS = 3  # of the families, these file a case; the others stop at the result
FAMILIES = 6
KILLS = 4  # per test


class RetryingWebhook:
    """Telegram's webhook delivery: the same update again and again until the bot answers 200."""

    def __init__(self, api, target: dict, deadline: float = 90):
        self.api, self.target, self.deadline = api, target, deadline
        self.attempts = 0

    def __call__(self, update: dict) -> None:
        end = time.monotonic() + self.deadline
        while time.monotonic() < end:
            self.attempts += 1
            try:
                if self.api.deliver_webhook(self.target["url"], update, SECRET, timeout=30) == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)  # Telegram's back-off between deliveries, not a synchronisation
        raise AssertionError(f"update {update['update_id']} never got a 200")


def family(user: ScriptedUser, files: bool) -> str | None:
    """The whole story, each step waiting for words only its own answer has (a late copy of an
    earlier message must not be taken for the answer)."""
    def has(words: str):
        return lambda c: c.method in TEXT_METHODS and words in str(c.params.get("text", ""))

    user.send(user.text_update("/start"), has("是谁在问"))
    user.send(user.callback_update("role:self"), has("哪个地方"))
    user.send(user.text_update("温岭"), has("孩子现在安全吗"))
    user.send(user.callback_update("c:safety:0"), has("多大"))
    user.send(user.text_update("9岁"), has("孩子家里有没有下面这些情况"))  # 温岭 was where the 户口 is
    user.send(user.callback_update("c:health:4"), has("孩子的父母现在是什么情况"))  # 不确定
    user.send(user.callback_update("c:parents:5"), has("孩子的父亲"))  # 不一样，分开说
    user.send(user.callback_update("c:father:1"), has("母亲"))
    user.send(user.callback_update("c:mother:1"), lambda c: c.method in TEXT_METHODS)
    mark = len(user.transcripts.calls(user.id))
    for _ in range(30):
        if any("问完了" in str(c.params.get("text", "")) for c in user.transcripts.calls(user.id)[mark:]):
            break
        user.send(user.text_update("不确定"), lambda c: c.method in TEXT_METHODS)
    else:
        raise AssertionError(f"user {user.id}: no summary")
    user.send(user.callback_update("result"), lambda c: c.method in TEXT_METHODS and "依据" in str(
        c.params.get("reply_markup", "")))
    if not files:
        return None
    user.send(user.callback_update("file"), has("同意"))
    user.send(user.callback_update("consent:y"), has("1/6"))
    user.send(user.text_update("王秀英"), has("2/6"))
    user.send(user.callback_update("f:relation:0"), has("3/6"))
    user.send(user.text_update("13812345678"), has("4/6"))
    user.send(user.text_update(f"王小{user.id % 100}"), has("5/6"))
    user.send(user.text_update(child_id(9, seq=f"{user.id % 1000:03d}")), has("6/6"))
    user.send(user.text_update("温岭市城东街道某某村"), has("请核对"))
    out = user.send(user.callback_update("submit"), lambda c: c.method in TEXT_METHODS and "TZ" in str(
        c.params.get("text", "")))
    return next(w for w in out.replace("：", " ").split() if w.startswith("TZ"))


def killer(api, restart, stop: threading.Event, kills: list, seed: int, every: tuple[int, int],
           most: int) -> None:
    """SIGKILL the bot at random points under load: after a random number (within `every`) of
    messages it sent since it last started, `most` times at most."""
    rng = random.Random(seed)
    while len(kills) < most and not stop.is_set():
        mark, wanted = len(api.calls("sendMessage")), rng.randint(*every)
        while not stop.is_set() and len(api.calls("sendMessage")) - mark < wanted:
            stop.wait(0.05)  # watching the fake's log for the moment to kill, not a synchronisation
        if stop.is_set():
            return
        restart()
        kills.append(time.monotonic())


def run_families(api, transcripts, make_transport, restart, db_sa_url: str, *, seed: int, every, label: str,
                 most: int = KILLS):
    for method, rates in FAULTS.items():
        api.faults.set(method, rates)
    api.faults.slow_seconds = 1.5
    users = [ScriptedUser(api, transcripts, 810_000 + seed * 100 + i, transport=make_transport(), timeout=90)
             for i in range(FAMILIES)]
    stop, kills = threading.Event(), []
    thread = threading.Thread(target=killer, args=(api, restart, stop, kills, seed, every, most), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=FAMILIES) as pool:
            refs = list(pool.map(lambda iu: family(iu[1], iu[0] < FILERS), enumerate(users)))
    finally:
        stop.set()
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    api.faults.clear()

    engine = make_engine(db_sa_url, migrate=False)
    with Session(engine) as s:
        filed = {c.reference for c in s.exec(select(PreApplication))}
    engine.dispose()
    texts = {u.id: transcripts.texts(u.id) for u in users}
    delivered = sum(len(t) for t in texts.values())
    repeats = sum(sum(1 for a, b in zip(t, t[1:]) if a == b) for t in texts.values())
    triples = [(uid, a[:40]) for uid, t in texts.items() for a, b, c in zip(t, t[1:], t[2:]) if a == b == c]
    told = {r for r in filed if any(r in x for t in texts.values() for x in t)}
    updates = sum(len(u.updates) for u in users)
    print(f"\n{label}: {len(kills)} kills, faults injected {dict(api.faults.injected)} "
          f"({sum(api.faults.injected.values())}), {updates} updates sent, {delivered} replies delivered, "
          f"{repeats} shown twice in a row, {len(filed)} cases filed, {len(told)} references delivered, "
          f"{elapsed:.0f} s")
    assert len(kills) >= 2, "the bot was killed under load"
    assert all(u.id for u in users)
    assert sorted(r for r in refs if r) == sorted(filed), "one case per family that filed, no duplicates"
    assert len(filed) == FILERS and told == filed, "every reference reached its family"
    assert triples == [], f"a message shown three times in a row: {triples}"
    return kills


def test_polling_on_sqlite_survives_kills_and_bot_api_faults(api, transcripts, bots, tmp_path):
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    current = {"bot": bots.polling(db, **ENV)}

    def restart():
        current["bot"].kill()
        current["bot"] = bots.polling(db, **ENV)

    run_families(api, transcripts, lambda: None, restart, db, seed=1, every=(8, 40), label="polling/SQLite")
    assert current["bot"].stop() == 0, current["bot"].log()


def test_webhook_on_postgresql_survives_kills_and_bot_api_faults(api, transcripts, bots, pg_schema):
    current = {"bot": bots.webhook(pg_schema.url, **ENV)}
    target = {"url": current["bot"].url}

    def restart():
        current["bot"].kill()
        current["bot"] = bots.webhook(pg_schema.url, **ENV)
        target["url"] = current["bot"].url

    run_families(api, transcripts, lambda: RetryingWebhook(api, target), restart, pg_schema.sa_url, seed=2,
                 every=(8, 40), label="webhook/PostgreSQL, 2 workers", most=3)
    assert current["bot"].stop() == 0, current["bot"].log()
