"""pytest fixtures of the end-to-end tests (import them into the test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from botapi_fakes.server import FakeBotApi
from e2e.process import BotProcess, WebhookBot
from e2e.users import Transcripts


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    # The fake's listen backlog is deep (botapi_fakes/server.py), as a real Bot API server's: when 200
    # users start at once the bot opens ~100 connections in a burst.
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def transcripts(api: FakeBotApi) -> Iterator[Transcripts]:
    t = Transcripts(api)
    yield t
    t.close()


class Bots:
    """Starts bot processes for a test and kills every one of them on teardown."""

    def __init__(self, api: FakeBotApi, tmp_path: Path):
        self.api, self.tmp_path = api, tmp_path
        self.started: list[BotProcess] = []

    def polling(self, db_url: str, **env: str) -> BotProcess:
        bot = BotProcess(self.api, db_url, log=self.tmp_path / f"bot{len(self.started)}.log", env=env).start()
        self.started.append(bot)
        bot.wait_polling()
        return bot

    def webhook(self, db_url: str, workers: int = 2, **env: str) -> WebhookBot:
        bot = WebhookBot(self.api, db_url, log=self.tmp_path / f"bot{len(self.started)}.log", workers=workers,
                         env=env).start()
        self.started.append(bot)
        bot.wait_ready()
        return bot

    def kill_all(self) -> None:
        for bot in self.started:
            bot.kill()
            # shown by pytest only when the test failed: what the bot logged, without Alembic's chatter
            lines = [line for line in bot.log().splitlines() if "alembic" not in line]
            print(f"--- {bot.log_path.name} (exit code {bot.proc.returncode if bot.proc else None})")
            print("\n".join(lines[-80:]))


@pytest.fixture
def bots(api: FakeBotApi, tmp_path: Path) -> Iterator[Bots]:
    b = Bots(api, tmp_path)
    try:
        yield b
    finally:
        b.kill_all()
