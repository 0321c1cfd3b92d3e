"""Run the real bot (`python bot.py`, or `python bot.py --webhook --workers N --port P`) as a subprocess.

    bot = BotProcess(api, db_url, log=tmp_path / "bot.log").start()
    bot.wait_polling()            # its first getUpdates reached the fake
    ...
    assert bot.stop() == 0        # SIGTERM, a clean exit
    bot.kill()                    # teardown: always safe, kills the whole process group

The process gets its own session (process group), so `kill()` also ends uvicorn's worker processes;
only processes started here are ever signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from botapi_fakes.server import FakeBotApi

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:E2E-test-token"
SECRET = "e2e-webhook-secret_0123456789"
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy", "socks_proxy"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bot_env(api: FakeBotApi, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of the bot: ours minus proxy variables and settings the test does not choose."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
    for name in ("TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET", "TONGZHU_ENV", "TONGZHU_NO_PROXY_ENV",
                 "HOST", "PORT"):
        env.pop(name, None)
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url, DATABASE_URL=db_url,
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env



def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to a process group (a crash: nothing finishes cleanly), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass

class ServerProcess:
    """A real process of ours under test (`proc`, its `log_path` and open `_log_file`)."""

    proc: subprocess.Popen | None
    log_path: Path
    _log_file = None

    def kill(self) -> None:
        """SIGKILL to the process group (the server and any worker it started): a crash."""
        if self.proc is None:
            return
        kill_group(self.proc)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]
        except OSError:
            return ""


class BotProcess(ServerProcess):
    def __init__(self, api: FakeBotApi, db_url: str, *, log: Path, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.api = api
        self.args = list(args)
        self.env = bot_env(api, db_url, **(env or {}))
        self.log_path = log
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "BotProcess":
        self._log_file = open(self.log_path, "ab")
        self._mark = len(self.api.calls())
        self.proc = subprocess.Popen([sys.executable, "bot.py", *self.args], cwd=REPO, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait_polling(self, timeout: float = 30) -> None:
        """Until the bot's first long poll reached the fake (it has registered its commands then)."""
        try:
            self.api.wait_for(lambda c: c.method == "getUpdates", timeout=timeout, start=self._mark)
        except TimeoutError:
            raise AssertionError(f"the bot did not start polling; exit code {self.proc.poll()}\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM; → the exit code (the bot must finish the updates it took and exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the bot did not exit within {timeout} s of SIGTERM\n{self.log()}")


    def __enter__(self) -> "BotProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


class WebhookBot(BotProcess):
    """`python bot.py --webhook --workers N --port P` with TELEGRAM_WEBHOOK_SECRET set."""

    def __init__(self, api: FakeBotApi, db_url: str, *, log: Path, workers: int = 2, secret: str = SECRET,
                 env: dict[str, str] | None = None):
        self.port = free_port()
        self.workers = workers
        self.secret = secret
        super().__init__(api, db_url, log=log,
                         args=("--webhook", "--workers", str(workers), "--port", str(self.port)),
                         env={"TELEGRAM_WEBHOOK_SECRET": secret, **(env or {})})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/telegram"

    def wait_ready(self, timeout: float = 60) -> set[int]:
        """Poll GET /healthz (a readiness probe, bounded) until every worker has answered; → their pids."""
        pids: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the webhook server exited with {self.proc.returncode}\n{self.log()}")
            try:
                # a new connection each time: the kernel hands it to whichever worker accepts first
                with httpx.Client(trust_env=False, timeout=2) as client:
                    pids.add(client.get(self.base + "/healthz").json()["pid"])
            except httpx.HTTPError:
                time.sleep(0.05)  # not up yet: the probe's back-off, not a synchronisation
                continue
            if len(pids) >= self.workers:
                return pids
        raise AssertionError(f"only {len(pids)} of {self.workers} workers answered /healthz\n{self.log()}")

    def pinned_clients(self, timeout: float = 30) -> dict[int, httpx.Client]:
        """One keep-alive client per worker: a connection stays with the worker that accepted it, so
        each client's requests are handled by that worker (its /healthz pid)."""
        clients: dict[int, httpx.Client] = {}
        spare: list[httpx.Client] = []
        deadline = time.monotonic() + timeout
        while len(clients) < self.workers and time.monotonic() < deadline:
            client = httpx.Client(trust_env=False, timeout=30)
            pid = client.get(self.base + "/healthz").json()["pid"]
            if pid in clients:
                spare.append(client)
            else:
                clients[pid] = client
        for client in spare:
            client.close()
        if len(clients) < self.workers:
            for client in clients.values():
                client.close()
            raise AssertionError(f"could not reach {self.workers} distinct workers")
        return clients
