"""Drive the real python-telegram-bot Application in-process: Telegram is played by
botapi_fakes.OfflineRequest, which records and validates every Bot API call."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from stdnum.cn import ric
from telegram import Update

from botapi_fakes.offline import OfflineRequest
from botapi_fakes.updates import callback_update, text_update
from handlers.telegram_app import build_application
from storage.db import make_engine


def child_id(age: int, area: str = "331081", seq: str = "123") -> str:
    """A valid 公民身份号码 for a child who is `age` today."""
    today = dt.date.today()
    birth = dt.date(today.year - age, 1, 1) if (today.month, today.day) > (1, 1) else dt.date(today.year - age - 1, 1, 2)
    body = f"{area}{birth:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a place for the check digit


class Harness:
    def __init__(self, db_url: str):
        self.request = OfflineRequest()
        self.engine = make_engine(db_url)
        self.app = build_application(token="123:ABC", engine=self.engine, request=self.request, maintenance=False)
        self.ids = itertools.count(1)

    async def __aenter__(self) -> "Harness":
        await self.app.initialize()
        await self.app.post_init(self.app)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.app.shutdown()

    async def feed(self, update: dict) -> list[str]:
        before = len(self.request.calls())
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return [c.params.get("text", "") for c in self.request.calls()[before:]
                if c.method in ("sendMessage", "editMessageText")]

    async def say(self, user_id: int, text: str, first_name: str = "奶奶") -> str:
        return "\n".join(await self.feed(text_update(next(self.ids), user_id, text, first_name)))

    def buttons(self, user_id: int) -> list[dict]:
        markup = self.request.last_markup(user_id) or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    async def press(self, user_id: int, label: str) -> str:
        """Press the first button of the newest keyboard whose label contains `label`."""
        for button in self.buttons(user_id):
            if label in button["text"]:
                return await self.press_data(user_id, button["callback_data"])
        raise AssertionError(f"no button {label!r} in {[b['text'] for b in self.buttons(user_id)]}")

    async def press_data(self, user_id: int, data: str) -> str:
        return "\n".join(await self.feed(callback_update(next(self.ids), user_id, data)))

    async def unsure_until(self, user_id: int, words: str, limit: int = 20) -> str:
        """Answer "不确定" until the question holding `words` is asked (the order is derived from the
        packs, so a test names the question it waits for, not its place in the order)."""
        for _ in range(limit):
            last = self.request.sent_texts(user_id)[-1]
            if words in last:
                return last
            if "问完了" in last:
                break
            await self.say(user_id, "不确定")
        raise AssertionError(f"the question {words!r} was not asked")

    async def answer_by_prompt(self, user_id: int, answers: dict[str, str], limit: int = 30) -> str:
        """Answer each question by what it asks: {words of the prompt: the answer} — a button pressed
        when one carries that label, else typed; "不确定" to any other question; until the summary."""
        for _ in range(limit):
            last = self.request.sent_texts(user_id)[-1]
            if "问完了" in last:
                return last
            answer = next((a for words, a in answers.items() if words in last), "不确定")
            if any(answer in b["text"] for b in self.buttons(user_id)):
                await self.press(user_id, answer)
            else:
                await self.say(user_id, answer)
        raise AssertionError("the questionnaire did not end")

    async def answer_rest_unsure(self, user_id: int, limit: int = 30, press: dict[str, str] | None = None) -> str:
        """Answer "不确定" to every remaining question until the summary; `press`: the button to press
        at a question whose prompt holds these words, in whatever order the questions come."""
        for _ in range(limit):
            last = self.request.sent_texts(user_id)[-1]
            if "问完了" in last:
                return last
            chosen = next((lbl for words, lbl in (press or {}).items() if words in last), None)
            if chosen:
                await self.press(user_id, chosen)
            elif any("不确定" == b["text"] for b in self.buttons(user_id)) and "第" in last:
                await self.press(user_id, "不确定")
            else:
                await self.say(user_id, "不确定")
        raise AssertionError("the questionnaire did not end")


# an orphan's answers, by the words of each question's prompt, in whatever order the questions come
ORPHAN = {"父母现在是什么情况": "都去世了", "户口就在这个地方吗": "是", "孩子的父亲": "已去世", "孩子的母亲": "已去世"}


async def file_case(h: Harness, user_id: int, *, region: str = "温岭", age: int = 9, story: str | None = None,
                    for_family: bool = False, child_name: str = "王小明", number: str | None = None) -> str:
    """A whole conversation to a filed pre-application; returns the reference number."""
    await h.say(user_id, "/restart")
    await h.press(user_id, "帮一户家庭问" if for_family else "我是孩子的家人")
    await h.say(user_id, region)
    await h.press(user_id, "安全")
    if story:
        await h.say(user_id, story)
        await h.press(user_id, "对，就是这样")
    await h.say(user_id, f"{age}岁")
    await h.answer_rest_unsure(user_id, press=ORPHAN)
    await h.press(user_id, "没问题，看结果")
    await h.press(user_id, "提交预申请")
    await h.press(user_id, "同意")
    await h.say(user_id, "王秀英")
    await h.press(user_id, "祖父母")
    await h.say(user_id, "13812345678")
    await h.say(user_id, child_name)
    await h.say(user_id, number or child_id(age))
    await h.say(user_id, "温岭市城东街道某某村")
    out = await h.press(user_id, "提交")
    ref = next(w for w in out.replace("：", " ").split() if w.startswith("TZ"))
    return ref
