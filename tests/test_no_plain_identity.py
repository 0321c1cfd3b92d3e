"""No plain identity anywhere: a family files a case step by step through the real Application, and
after EVERY step the raw database bytes (the SQLite file and its WAL; every PostgreSQL table) and
every log record are searched for the child's 身份证 digits and the phone number."""

from __future__ import annotations

import asyncio
import logging

import pytest

from e2e.pg import pg_schema  # noqa: F401  (a fixture: a fresh PostgreSQL schema per test)
from tg import ORPHAN, Harness, child_id

PHONE = "13912345678"
ID = child_id(9, seq="457")
SECRETS = {"身份证": ID, "phone": PHONE, "身份证 without its check digit": ID[:17]}


class Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage() + (self.format(record) if record.exc_info else ""))
        except Exception:  # noqa: BLE001
            self.lines.append(str(record.msg))


class Scanning(Harness):
    """After every update: look for the secrets in the raw storage and the logs."""

    def __init__(self, db_url: str, raw, records: Records):
        super().__init__(db_url)
        self.raw, self.records, self.steps = raw, records, 0

    async def feed(self, update: dict) -> list[str]:
        out = await super().feed(update)
        self.steps += 1
        blob = self.raw()
        logs = "\n".join(self.records.lines)
        for what, value in SECRETS.items():
            assert value.encode() not in blob, f"{what} in clear in the database after step {self.steps}"
            assert value not in logs, f"{what} in the logs after step {self.steps}"
        return out


def sqlite_raw(path):
    def raw() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    return raw


def postgres_raw(schema):
    def raw() -> bytes:
        with schema.connect() as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema.name,)).fetchall()]
            return "\n".join(str(row[0]) for t in tables
                             for row in conn.execute(f'SELECT t::text FROM "{t}" t').fetchall()).encode()
    return raw


async def file_step_by_step(h: Scanning, user: int) -> str:
    await h.say(user, "/start")
    await h.press(user, "我是孩子的家人")
    await h.say(user, "温岭")
    await h.press(user, "安全")
    await h.say(user, "9岁")
    await h.answer_rest_unsure(user, press=ORPHAN)
    await h.press(user, "没问题，看结果")
    await h.press(user, "提交预申请")
    await h.press(user, "同意")
    await h.say(user, "王秀英")
    await h.press(user, "祖父母")
    await h.say(user, PHONE[:-1])  # one digit short: asked again
    await h.say(user, PHONE)
    await h.say(user, PHONE)  # the phone again where the child's name is asked
    await h.say(user, "王小明")
    await h.say(user, ID[:-1] + ("0" if ID[-1] != "0" else "1"))  # a wrong check digit
    await h.say(user, ID)
    await h.say(user, "温岭市城东街道某某村")
    out = await h.press(user, "提交")
    assert "预申请编号" in out
    await h.say(user, "/status")
    await h.say(user, f"我的电话是{PHONE}，身份证{ID}")  # typed again after filing
    return out


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_a_case_filed_step_by_step_never_stores_or_logs_the_numbers_in_clear(db, tmp_path, request):
    records = Records()
    root, ours = logging.getLogger(), logging.getLogger("tongzhu")
    old_levels = root.level, ours.level
    root.addHandler(records)
    root.setLevel(logging.INFO)  # as the bot runs (python-telegram-bot's DEBUG prints every request)
    ours.setLevel(logging.DEBUG)  # and all of our own
    try:
        if db == "sqlite":
            path = tmp_path / "bot.db"
            url, raw = f"sqlite:///{path}", sqlite_raw(path)
        else:
            schema = request.getfixturevalue("pg_schema")
            url, raw = schema.sa_url, postgres_raw(schema)

        async def scenario():
            async with Scanning(url, raw, records) as h:
                await file_step_by_step(h, 8101)
                return h.steps

        steps = asyncio.run(scenario())
        assert steps >= 20  # every step of a whole conversation to a filed case was scanned
    finally:
        root.removeHandler(records)
        root.setLevel(old_levels[0])
        ours.setLevel(old_levels[1])
