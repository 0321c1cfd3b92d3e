"""Whole processes, timed from the outside: ``python -m bench.processes [--json]``.

- ``ask_process_ms``: wall time of a whole ``python bot.py ask "…" --region 温岭`` (interpreter start,
  imports, the answer, exit), median of three runs after a first one; ``ask_first_process_ms`` is that
  first run, with an empty cache folder (``TONGZHU_CACHE_DIR``), as after a fresh install.
- ``screen_process_ms`` / ``simulate_process_ms``: the same for ``bot.py screen`` / ``bot.py simulate``
  on a facts file. Each ``*_cpu_ms`` is the CPU time (user + system) of the same processes: on a
  shared machine the wall time also holds the waits for a core, the CPU time does not.
- ``start_to_first_reply_ms``: ``python bot.py`` started against the fake Bot API (botapi_fakes.server)
  with a family's free-text question already waiting; the time from starting the process to the
  bot's answer reaching the fake. ``next_reply_ms`` is the time of a second question's answer, sent
  once the first came: a warm start makes the first answer cost what the next one does
  (``first_reply_ms``: the first answer's own time, from the bot's first getUpdates;
  ``start_to_first_reply_cpu_ms``: the bot process's CPU time until then).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH-process-token"
QUESTION = "孤儿每个月能领多少钱"
SECOND = "事实无人抚养儿童要带什么材料"
FACTS = {"region": "温岭市", "child": {"age": 9, "hukou_local": True, "living": "relatives", "school_stage": "primary"},
         "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy", "socks_proxy"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET", "TONGZHU_ENV"):
        env.pop(name, None)
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """→ (wall ms, CPU ms: user + system) of one whole ``python bot.py …`` process."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "bot.py", *args], cwd=REPO, env=env, capture_output=True, timeout=300)
    ms, cpu = (time.perf_counter() - started) * 1000, (_children_cpu() - cpu) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"bot.py {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return ms, cpu


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc), or NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def cli_times(tmp: Path) -> dict:
    env = _env(TONGZHU_CACHE_DIR=str(tmp / "cache"), DATABASE_URL=f"sqlite:///{tmp / 'cli.db'}")
    facts = tmp / "facts.json"
    facts.write_text(json.dumps(FACTS, ensure_ascii=False), encoding="utf-8")
    out: dict = {}
    ask = ["ask", QUESTION, "--region", "温岭"]
    wall, cpu = _timed_run(ask, env)
    out["ask_first_process_ms"], out["ask_first_process_cpu_ms"] = round(wall, 1), round(cpu, 1)
    for name, args in (("ask", ask), ("screen", ["screen", str(facts)]), ("simulate", ["simulate", str(facts)])):
        _timed_run(args, env) if name != "ask" else None  # a first run writes the .pyc files
        runs = [_timed_run(args, env) for _ in range(3)]
        out[f"{name}_process_ms"] = round(statistics.median(r[0] for r in runs), 1)
        out[f"{name}_process_cpu_ms"] = round(statistics.median(r[1] for r in runs), 1)
    return out


def start_to_first_reply(tmp: Path) -> dict:
    from botapi_fakes.server import FakeBotApi

    user = 4242
    with FakeBotApi(poll_cap=0.5) as api:
        env = _env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                   DATABASE_URL=f"sqlite:///{tmp / 'bot.db'}", TONGZHU_CACHE_DIR=str(tmp / "cache"))
        api.push_text(user, QUESTION)
        log = open(tmp / "bot.log", "wb")
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "bot.py"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            poll = api.wait_for(lambda c: c.method == "getUpdates", timeout=120)
            polled = time.perf_counter()
            del poll
            api.wait_for_text(user, timeout=120)
            first, first_cpu = time.perf_counter(), _cpu_of(proc.pid)
            mark = len(api.calls())
            api.push_text(user, SECOND)
            sent = time.perf_counter()
            api.wait_for_text(user, timeout=120, start=mark)
            second = time.perf_counter()
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()
    return {"start_to_first_reply_ms": round((first - started) * 1000, 1),
            "start_to_first_reply_cpu_ms": round(first_cpu * 1000, 1),
            "first_reply_ms": round((first - polled) * 1000, 1),
            "next_reply_ms": round((second - sent) * 1000, 1)}


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="tongzhu-proc-") as tmp:
        out = cli_times(Path(tmp))
        out.update(start_to_first_reply(Path(tmp)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.processes", description="whole-process timings")
    parser.add_argument("--json", action="store_true")
    parser.parse_args(argv)
    print(json.dumps(run(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
