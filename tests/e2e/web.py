"""Run the real web app (`python bot.py web --port P`) as a subprocess, and a Chromium for it.

    server = WebServer(db_url, log=tmp_path / "web.log").start().wait_ready()
    ...
    server.kill()        # SIGKILL to its process group; start() again goes on with the same database

The browser is Debian's Chromium driven by Playwright (pip): never `playwright install`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from e2e.process import PROXY_VARS, REPO, free_port, ServerProcess

CHROMIUM = os.environ.get("TONGZHU_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]
# WeChat's built-in browser on an Android phone
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.220303.001; wv) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5127 "
             "MMWEBSDK/20230303 MMWEBID/2585 MicroMessenger/8.0.34.2340(0x2800225F) WeChat/arm64 Weixin "
             "NetType/WIFI Language/zh_CN ABI/arm64")
PHONE = {"width": 390, "height": 844}
SECRET = "e2e-web-secret-0123456789abcdef"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium fonts-noto-cjk)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


class WebServer(ServerProcess):
    def __init__(self, db_url: str, *, log: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.log_path = log
        self.env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
        for name in ("TELEGRAM_BOT_TOKEN", "TONGZHU_ENV", "HOST", "PORT", "TONGZHU_WEB_RATE_SESSION",
                     "TONGZHU_WEB_RATE_IP", "TONGZHU_WEB_MAX_BODY"):
            self.env.pop(name, None)
        # a test taps faster than a person: the per-session limit (tested in test_web.py) is lifted here
        self.env.update(DATABASE_URL=db_url, TONGZHU_WEB_SECRET=SECRET, PYTHONUNBUFFERED="1",
                        TONGZHU_WEB_RATE_SESSION="6000",
                        PYTHONDONTWRITEBYTECODE="1", **(env or {}))
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebServer":
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "bot.py", "web", "--port", str(self.port)], cwd=REPO,
                                     env=self.env, stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 60) -> "WebServer":
        """Poll GET /healthz (a readiness probe with a deadline) until the server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the web app exited with {self.proc.returncode}\n{self.log()}")
            try:
                with httpx.Client(trust_env=False, timeout=2) as client:
                    if client.get(self.base + "/healthz").status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # not up yet: the probe's back-off, not a synchronisation
        raise AssertionError(f"the web app did not answer /healthz within {timeout} s\n{self.log()}")

