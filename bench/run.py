"""python -m bench --users 200 [--db sqlite|postgres] [--json]

Phase 1, the bot: the real Application (handlers.telegram_app.build_application, maintenance off)
on the offline request layer (bench/layer.py) and a fresh database; a few users warm it up (the
knowledge base, templates, SQL compilation caches), then ``--users`` users run the whole conversation
at once, one asyncio task each, every update handed over as Telegram's JSON through
``await app.process_json(...)`` (what the webhook calls; bench/flow.py).
Phase 2, the echo bot: a bare python-telegram-bot Application (a MessageHandler echoing the text, a
CallbackQueryHandler answering the query) on the same layer, in the same process, fed the same kinds
of updates in the same order per user, all users at once, each parsed by ``Update.de_json`` and
processed by ``process_update``.

With ``--think-ms T`` each user pauses 0.5–1.5 × T before every update, as a person reading and
typing would: the offered load is then users / T, and the latency is that of a bot that keeps up.

Measured: latency of each update's processing (p50, p99), throughput (updates / wall time of the phase),
peak RSS (ru_maxrss), and memory per active conversation: the growth of RSS while every user's
conversation is in flight (sampled every 10 ms) over its value after the warm-up, divided by the
number of users.  ``--tracemalloc`` adds a third phase that measures the Python heap's peak growth
per conversation with tracemalloc (slower: not timed).

Also measured: ``cpu_ms_per_update`` of the bot and of the echo bot (``time.process_time()`` of the
whole process — every thread, the database thread included; not the PostgreSQL server's — over the
measured phase, divided by its updates), ``sql_statements_per_update`` (a ``before_cursor_execute``
listener on the bot's engine), the exports at ``--export-cases`` cases (bench/exports.py:
``export_xlsx_10k_s`` …) and whole processes (bench/processes.py: ``ask_process_ms``,
``start_to_first_reply_ms`` …).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import quote

from .flow import Stats, User
from .layer import BenchRequest
from .machine import describe, rss_mb
from .sqlcount import StatementCounter

TOKEN = "123456:BENCH-token"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WARMUP_USERS = 3
TARGETS = {"p99_ms": 50.0, "throughput_vs_echo": 0.3, "kb_per_conversation": 100.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(stats: Stats, wall: float) -> dict:
    return {"updates_per_s": round(len(stats.latencies) / wall, 1),
            "p50_ms": round(percentile(stats.latencies, 0.50) * 1000, 2),
            "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 2)}


class RssSampler:
    """The highest RSS seen while running (every 10 ms, in the event loop)."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            await asyncio.sleep(0.01)

    def __enter__(self) -> "RssSampler":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self.peak = max(self.peak, rss_mb())
        self._task.cancel()


# ------------------------------------------------------------------------------------------ databases

@contextlib.contextmanager
def database(kind: str, pg_url: str):
    """→ a DATABASE_URL of a fresh, empty database; removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tongzhu-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ------------------------------------------------------------------------------------------ phases

def bot_app(db_url: str, validate: bool = False):
    """(engine, request, the bot's real Application) over a fresh database, before it starts."""
    from handlers.telegram_app import build_application
    from storage.db import make_engine

    engine = make_engine(db_url)
    request = BenchRequest(validate=validate)
    return engine, request, build_application(token=TOKEN, engine=engine, request=request, maintenance=False)


@contextlib.asynccontextmanager
async def running(app):
    """The Application as `run_polling` runs it: initialised, `post_init` (the outbox's sender loop …),
    and at the end `post_shutdown` (the loops stopped, the database threads' connections given back)
    before it shuts down — else the sender loop outlives the phase, polling a database that is gone."""
    async with app:
        await app.post_init(app)
        try:
            yield app
        finally:
            await app.post_shutdown(app)


async def warm_up(app, request: BenchRequest, ids) -> None:
    """Let a few families through the started application (first-use costs left out of the numbers)."""
    warm = Stats()
    await asyncio.gather(*(User(app, request, 9_000_000 + i, ids, warm).conversation(900 + i)
                           for i in range(WARMUP_USERS)))


async def bot_phase(db_url: str, users: int, validate: bool, think_ms: float = 0.0) -> tuple[dict, Stats, list[str]]:
    engine, request, app = bot_app(db_url, validate)
    ids = itertools.count(1)
    try:
        async with running(app):
            await warm_up(app, request, ids)
            gc.collect()
            base = rss_mb()
            stats = Stats()
            people = [User(app, request, 1_000_000 + i, ids, stats, think_ms) for i in range(users)]
            with RssSampler() as sampler, StatementCounter(engine) as statements:
                started, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(u.conversation(i) for i, u in enumerate(people)))
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            out = summary(stats, wall)
            out["cpu_ms_per_update"] = round(cpu * 1000 / len(stats.latencies), 3)
            out["sql_statements_per_update"] = round(statements.count / len(stats.latencies), 2)
            out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            out["kb_per_conversation"] = round(max(sampler.peak - base, 0) * 1024 / users, 1)
            out["wall_s"] = round(wall, 2)
            out["updates"] = len(stats.latencies)
    finally:
        engine.dispose()
    return out, stats, list(request.problems)


async def echo_phase(stats: Stats, validate: bool, think_ms: float = 0.0) -> dict:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    async def answer(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()

    request = BenchRequest(validate=validate)
    app = (ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request)
           .concurrent_updates(True).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(answer))
    ids = itertools.count(1)
    async with app:
        warm = Stats()
        await User(app, request, 9_000_000, ids, warm).replay(next(iter(stats.kinds.values())))
        echo_stats = Stats()
        people = [(User(app, request, 1_000_000 + i, ids, echo_stats, think_ms), log)
                  for i, log in enumerate(stats.kinds.values())]
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(u.replay(log) for u, log in people))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    out = summary(echo_stats, wall)
    out["cpu_ms_per_update"] = round(cpu * 1000 / len(echo_stats.latencies), 3)
    out["wall_s"] = round(wall, 2)
    out["updates"] = len(echo_stats.latencies)
    return out


async def tracemalloc_phase(db_url: str, users: int) -> float:
    """KB of Python heap per conversation in flight: tracemalloc's peak over its post-warm-up value."""
    from handlers.telegram_app import build_application
    from storage.db import make_engine

    engine = make_engine(db_url)
    request = BenchRequest()
    app = build_application(token=TOKEN, engine=engine, request=request, maintenance=False)
    ids = itertools.count(50_000_000)
    try:
        async with running(app):
            await asyncio.gather(*(User(app, request, 8_000_000 + i, ids, Stats()).conversation(800 + i)
                                   for i in range(WARMUP_USERS)))
            gc.collect()
            tracemalloc.start()
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            await asyncio.gather(*(User(app, request, 2_000_000 + i, ids, Stats()).conversation(i)
                                   for i in range(users)))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    finally:
        engine.dispose()
    return round((peak - base) / 1024 / users, 1)


# ------------------------------------------------------------------------------------------ main

def verdict(bot: dict, echo: dict) -> dict:
    ratio = bot["updates_per_s"] / echo["updates_per_s"] if echo["updates_per_s"] else 0.0
    return {"throughput_vs_echo": round(ratio, 3),
            "p99_ms_le_50": bot["p99_ms"] <= TARGETS["p99_ms"],
            "throughput_ge_0.3_echo": ratio >= TARGETS["throughput_vs_echo"],
            "kb_per_conversation_le_100": bot["kb_per_conversation"] <= TARGETS["kb_per_conversation"]}


async def run(args: argparse.Namespace) -> dict:
    with database(args.db, args.pg_url) as url:
        bot, stats, problems = await bot_phase(url, args.users, args.validate, args.think_ms)
        echo = await echo_phase(stats, args.validate, args.think_ms)
        traced = await tracemalloc_phase(url, args.users) if args.tracemalloc else None
    result = {"bot": {k: bot[k] for k in ("updates_per_s", "p50_ms", "p99_ms", "peak_rss_mb", "kb_per_conversation",
                                          "cpu_ms_per_update", "sql_statements_per_update")},
              "echo": {k: echo[k] for k in ("updates_per_s", "p50_ms", "p99_ms", "cpu_ms_per_update")},
              "db": args.db,
              "run": {"users": args.users, "think_ms": args.think_ms, "updates": bot["updates"], "bot_wall_s": bot["wall_s"],
                      "echo_updates": echo["updates"], "echo_wall_s": echo["wall_s"],
                      "validated": args.validate, "bot_api_problems": problems[:20],
                      "targets": verdict(bot, echo), "machine": describe()}}
    if traced is not None:
        result["run"]["tracemalloc_kb_per_conversation"] = traced
    if args.export_cases:
        from .exports import run as export_run

        exports = await asyncio.to_thread(export_run, args.db, args.pg_url, args.export_cases)
        result["exports"] = exports
        if args.export_cases == 10_000:
            result["export_xlsx_10k_s"] = exports["export_xlsx_10k_s"]
    if args.processes:
        from .processes import run as process_run

        result["processes"] = await asyncio.to_thread(process_run)
        result["ask_process_ms"] = result["processes"]["ask_process_ms"]
        result["start_to_first_reply_ms"] = result["processes"]["start_to_first_reply_ms"]
    result["cpu_ms_per_update"] = {"bot": bot["cpu_ms_per_update"], "echo": echo["cpu_ms_per_update"]}
    result["sql_statements_per_update"] = bot["sql_statements_per_update"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="童助 benchmark: the bot vs a bare echo bot")
    parser.add_argument("--users", type=int, default=200, help="simulated users at once (default 200)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG),
                        help="PostgreSQL server for --db postgres; a fresh schema is made and dropped")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--validate", action="store_true", help="validate every Bot API call against the spec")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure heap per conversation")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="mean pause of a user before each update (default 0: every user sends the next "
                             "update as soon as the answer came, the closed loop of the targets)")
    parser.add_argument("--export-cases", type=int, default=10_000,
                        help="cases made through the real service for the export timings (bench/exports.py; "
                             "default 10000, 0 skips them)")
    parser.add_argument("--no-processes", dest="processes", action="store_false",
                        help="skip the whole-process timings (bench/processes.py: bot.py ask, start to first reply)")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        b, e, t = result["bot"], result["echo"], result["run"]["targets"]
        print(f"{args.users} users on {args.db}: {result['run']['updates']} updates in {result['run']['bot_wall_s']} s")
        print(f"bot : {b['updates_per_s']} updates/s, p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, "
              f"peak RSS {b['peak_rss_mb']} MB, {b['kb_per_conversation']} KB per conversation")
        print(f"echo: {e['updates_per_s']} updates/s, p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms")
        print(f"throughput {t['throughput_vs_echo']} × echo; targets: " +
              ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in t.items() if k != "throughput_vs_echo"))
        print(f"CPU per update: bot {b['cpu_ms_per_update']} ms, echo {e['cpu_ms_per_update']} ms; "
              f"{b['sql_statements_per_update']} SQL statements per update")
        if "exports" in result:
            print(f"exports: {json.dumps(result['exports'], ensure_ascii=False)}")
        if "processes" in result:
            print(f"processes: {json.dumps(result['processes'], ensure_ascii=False)}")
    problems = result["run"]["bot_api_problems"]
    if problems:
        print(f"Bot API problems: {problems}", file=sys.stderr)
        return 1
    return 0
