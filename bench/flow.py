"""Simulated users for the benchmark: each goes through the whole conversation, one update at a time,
as Telegram sends it (JSON): the bot through ``TongzhuApplication.process_json`` (what its webhook
calls), the echo bot through python-telegram-bot's ``Update.de_json`` and ``process_update`` — as many
users at once as asked.

The flow (the one of tests/test_telegram_flow.py): /start → 我是孩子的家人 → 温岭 (where the 户口 is) → 安全 →
9岁 → 父母都去世了 → 不确定 … until the summary → result → 提交预申请 → 同意 →
applicant, relation, phone, child, 身份证, address → 提交 → a reference number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass, field

from stdnum.cn import ric
from telegram import Update
from telegram.ext import Application

from botapi_fakes.updates import callback_update, text_update

from .layer import BenchRequest


def child_id(age: int, seq: int) -> str:
    """A valid 公民身份号码 (温岭 area code) of a child who is ``age`` today; ``seq`` varies the number."""
    today = dt.date.today()
    birth = dt.date(today.year - age, 1, 1) if (today.month, today.day) > (1, 1) else dt.date(today.year - age - 1, 1, 2)
    body = f"331081{birth:%Y%m%d}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds per update processed
    kinds: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # user -> [("text"|"press", value)]


class FlowError(AssertionError):
    pass


class User:
    """One simulated family: knows its id, the application and where its answers are."""

    def __init__(self, app: Application, request: BenchRequest, user_id: int, ids, stats: Stats,
                 think_ms: float = 0.0):
        self.app, self.request, self.id, self.ids, self.stats = app, request, user_id, ids, stats
        self.think = think_ms / 1000
        self.random = random.Random(user_id)
        self.texts: list[str] = []  # the texts of the latest answer
        self.markup: dict | None = None  # the latest keyboard
        self.log = stats.kinds.setdefault(user_id, [])

    async def _feed(self, update: dict) -> str:
        if self.think:  # a person reads the answer and types: 0.5–1.5 × the mean think time
            await asyncio.sleep(self.think * self.random.uniform(0.5, 1.5))
        started = time.perf_counter()
        await self._process(update)
        self.stats.latencies.append(time.perf_counter() - started)
        return self._collect()

    async def _process(self, update: dict) -> None:
        """The update as Telegram sends it (JSON), handed over the way each bot takes it: the bot
        through `process_json`, what its webhook calls (handlers/webhook.py); the echo bot
        through python-telegram-bot's own parsing and `process_update`."""
        process_json = getattr(self.app, "process_json", None)
        if process_json is not None:
            await process_json(update)
        else:
            await self.app.process_update(Update.de_json(update, self.app.bot))

    def _collect(self) -> str:
        """The texts and the newest keyboard this user was sent by the update just processed."""
        calls = self.request.take(self.id)
        self.texts = [c.params.get("text", "") for c in calls if c.method in ("sendMessage", "editMessageText")]
        for c in calls:
            if c.params.get("reply_markup"):
                self.markup = c.params["reply_markup"]
        return "\n".join(self.texts)

    async def say(self, text: str) -> str:
        self.log.append(("text", text))
        return await self._feed(text_update(next(self.ids), self.id, text))

    async def press(self, data: str) -> str:
        self.log.append(("press", data))
        message = self.request.last_message(self.id) or {}
        return await self._feed(callback_update(next(self.ids), self.id, data,
                                                message_id=message.get("message_id", 1),
                                                message_text=message.get("text", "…"),
                                                reply_markup=message.get("reply_markup")))

    def buttons(self) -> list[dict]:
        return [b for row in (self.markup or {}).get("inline_keyboard", []) for b in row]

    def expect(self, out: str, words: str) -> None:
        if words not in out:
            raise FlowError(f"user {self.id}: expected {words!r} in {out[:300]!r}")

    async def conversation(self, seq: int) -> str:
        self.expect(await self.say("/start"), "是谁在问")
        self.expect(await self.press("role:self"), "哪个地方")
        self.expect(await self.say("温岭"), "孩子现在安全吗")
        await self.press("c:safety:0")
        out = await self.say("9岁")
        for _ in range(30):
            if "问完了" in out:
                break
            labels = {b["text"]: b["callback_data"] for b in self.buttons()}
            choice = next((labels[w] for w in ("都去世了", "已去世") if w in labels), None) or (
                labels.get("是") if "户口" in out else None) or (labels.get("不确定") if "第" in out else None)
            out = await (self.press(choice) if choice else self.say("不确定"))
        self.expect(out, "问完了")
        self.expect(await self.press("result"), "孤儿")
        self.expect(await self.press("file"), "同意")
        await self.press("consent:y")
        await self.say("王秀英")
        await self.press("f:relation:0")
        await self.say("13812345678")
        await self.say(f"王小明{seq}")
        await self.say(child_id(9, seq))
        self.expect(await self.say("温岭市城东街道某某村"), "138****5678")
        out = await self.press("submit")
        self.expect(out, "预申请编号：TZ")
        self.request.forget(self.id)
        return out

    async def replay(self, log: list[tuple[str, str]]) -> None:
        """Send the same kinds of updates another user sent (for the echo bot)."""
        for kind, value in log:
            if kind == "text":
                await self._feed(text_update(next(self.ids), self.id, value))
            else:
                message = self.request.last_message(self.id) or {}
                await self._feed(callback_update(next(self.ids), self.id, value,
                                                 message_id=message.get("message_id", 1),
                                                 message_text=message.get("text", "…")))
        self.request.forget(self.id)
