"""python -m bench.profile [--users 30] [--db sqlite|postgres] [--top 30] [--sort tottime|cumtime]

Where the bot's CPU goes per handled update: the benchmark's families (bench/flow.py) through the
real Application, with a cProfile profiler on the thread CPU clock on the event loop AND one on
each database thread (SQLite: the one thread; PostgreSQL: the pool's threads).  Prints, per thread,
the top functions in microseconds per update.  cProfile's own overhead inflates small functions:
read shares, not absolute times (``python -m bench`` gives those).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import logging
import pstats
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .flow import Stats, User
from .run import DEFAULT_PG, bot_app, database, running, warm_up

_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


_thread_start: dict[str, float] = {}
PROFILE = True


def _start_thread_profile() -> None:
    _thread_start[threading.current_thread().name] = time.thread_time()
    if not PROFILE:
        return
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append((threading.current_thread().name, profile))
    profile.enable()


async def main_async(args) -> None:
    with database(args.db, args.pg_url) as url:
        engine, request, app = bot_app(url)
        bridge = app.bot_data["bridge"]
        ids = itertools.count(1)
        try:
            async with running(app):
                await warm_up(app, request, ids)
                # new database threads, each profiled from its start
                old = bridge.executor
                workers = args.db_threads or old._max_workers  # noqa: SLF001
                bridge.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dbprof",
                                                     initializer=_start_thread_profile)
                stats = Stats()
                people = [User(app, request, 1_000_000 + i, ids, stats) for i in range(args.users)]
                loop_profile = cProfile.Profile(time.thread_time)
                cpu, loop_cpu = time.process_time(), time.thread_time()
                if PROFILE:
                    loop_profile.enable()
                await asyncio.gather(*(u.conversation(i) for i, u in enumerate(people)))
                loop_profile.disable()
                cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
                spent = {}

                def used() -> None:
                    name = threading.current_thread().name
                    spent[name] = time.thread_time() - _thread_start[name]

                for _ in range(workers):
                    await asyncio.get_running_loop().run_in_executor(bridge.executor, used)
                bridge.executor.shutdown(wait=True)
                bridge.executor = old
        finally:
            engine.dispose()
    n = len(stats.latencies)
    print(f"{n} updates, process CPU {cpu * 1000 / n:.3f} ms per update"
          + (" (profiled, so inflated)" if PROFILE else ""))
    print(f"  event loop {loop_cpu * 1000 / n:.3f} ms; "
          + ", ".join(f"{k} {v * 1000 / n:.3f} ms" for k, v in sorted(spent.items())))
    if not PROFILE:
        return
    for name, profile in [("event loop", loop_profile)] + _profiles:
        st = pstats.Stats(profile)
        total = sum(v[2] for v in st.stats.values())
        print(f"\n=== {name}: {total * 1e6 / n:.0f} µs per update (thread CPU, profiled)")
        st.sort_stats(args.sort)
        rows = sorted(st.stats.items(), key=lambda kv: kv[1][2 if args.sort == "tottime" else 3], reverse=True)
        for (file, line, fn), (cc, nc, tt, ct, _callers) in rows[:args.top]:
            short = file.split("site-packages/")[-1].split("/wt-perf/")[-1]
            print(f"{tt * 1e6 / n:8.1f} {ct * 1e6 / n:8.1f} {nc / n:6.1f}  {short}:{line}({fn})")
    if args.out:
        for i, (name, profile) in enumerate([("loop", loop_profile)] + _profiles):
            profile.dump_stats(f"{args.out}.{i}.{name.replace(' ', '_')}.prof")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", choices=["tottime", "cumtime"], default="tottime")
    parser.add_argument("--db-threads", type=int, default=0, help="database threads (default: the bot's)")
    parser.add_argument("--no-profile", action="store_true", help="only each thread's CPU per update")
    parser.add_argument("--out", default=None, help="also dump the pstats files with this prefix")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    global PROFILE
    PROFILE = not args.no_profile
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
