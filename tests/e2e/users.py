"""Scripted users: each pushes an update and waits — bounded, on the fake's call log — for the bot's answer.

    transcripts = Transcripts(api)                 # files every Bot API call under its chat
    u = ScriptedUser(api, transcripts, 5001)       # long polling: updates go to getUpdates
    u.say("/start", until="是谁在问")
    u.press("role:self")                           # a button under the bot's newest message
    u.press_label("不确定")

The answer to an update is complete when a text message to the chat satisfies ``until``: a
substring, a predicate on the Call, or by default "a message carrying buttons" (every question,
summary, result and form prompt of the flow ends with one).  The texts sent since the update was
pushed are returned.  Many users run at once in threads: the follower thread wakes only the chat a
call belongs to, so 200 waiting users cost nothing while they wait.

A user can also deliver by webhook (``transport=Webhook(api, url, secret)``): the POST returns when
the update was processed, and the same wait then finds the answer already there.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from typing import Any, Callable

import httpx

from botapi_fakes.offline import Call
from botapi_fakes.server import FakeBotApi
from botapi_fakes.updates import callback_update, text_update

TEXT_METHODS = ("sendMessage", "editMessageText")
_ids = itertools.count(1)
_ids_lock = threading.Lock()


def next_update_id() -> int:
    """Update ids unique across every user and transport of the test run."""
    with _ids_lock:
        return next(_ids) + 10_000


class Transcripts:
    """Follows the fake's call log in a background thread; one list of calls per chat."""

    def __init__(self, api: FakeBotApi):
        self.api = api
        self._by_chat: dict[str, list[Call]] = defaultdict(list)
        self._conds: dict[str, threading.Condition] = defaultdict(threading.Condition)
        self._lock = threading.Lock()
        self._seen = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._follow, name="transcripts", daemon=True)
        self._thread.start()

    def _cond(self, chat: str) -> threading.Condition:
        with self._lock:
            return self._conds[chat]

    def _follow(self) -> None:
        while not self._stopping:
            try:
                self.api.wait_for(lambda c: True, timeout=0.5, start=self._seen)
            except TimeoutError:
                continue
            new = self.api.calls()[self._seen:]
            self._seen += len(new)
            touched: dict[str, list[Call]] = defaultdict(list)
            for call in new:
                chat = call.params.get("chat_id")
                if chat is not None:
                    touched[str(chat)].append(call)
            for chat, calls in touched.items():
                cond = self._cond(chat)
                with cond:
                    self._by_chat[chat].extend(calls)
                    cond.notify_all()

    def close(self) -> None:
        self._stopping = True
        self._thread.join(timeout=2)

    def calls(self, chat: int | str) -> list[Call]:
        cond = self._cond(str(chat))
        with cond:
            return list(self._by_chat[str(chat)])

    def texts(self, chat: int | str, method: str | None = None) -> list[str]:
        return [c.params.get("text", "") for c in self.calls(chat)
                if (c.method == method if method else c.method in TEXT_METHODS)]

    def wait(self, chat: int | str, predicate: Callable[[Call], bool], start: int, timeout: float) -> int:
        """→ the index of the first call of ``chat`` at or after ``start`` that satisfies ``predicate``."""
        cond = self._cond(str(chat))
        hit: list[int] = []
        scanned = [start]  # calls before this index were checked already

        with cond:
            calls = self._by_chat[str(chat)]

            def ready() -> bool:
                for i in range(scanned[0], len(calls)):
                    if predicate(calls[i]):
                        hit.append(i)
                        return True
                scanned[0] = max(scanned[0], len(calls))
                return False

            if not cond.wait_for(ready, timeout):
                recent = [f"{c.method}: {str(c.params.get('text', ''))[:60]!r}" for c in calls[-4:]]
                raise TimeoutError(f"chat {chat}: no answer within {timeout} s; last calls {recent}")
            return hit[0]


class Polling:
    """Updates go to the fake's getUpdates queue."""

    def __init__(self, api: FakeBotApi):
        self.api = api

    def __call__(self, update: dict[str, Any]) -> None:
        self.api.push_update(update)


class Webhook:
    """Updates are POSTed to the bot's webhook as Telegram does (processed before the answer)."""

    def __init__(self, api: FakeBotApi, url: str, secret: str):
        self.api, self.url, self.secret = api, url, secret
        self.statuses: list[int] = []

    def __call__(self, update: dict[str, Any]) -> None:
        status = self.api.deliver_webhook(self.url, update, self.secret, timeout=60)
        self.statuses.append(status)
        if status != 200:
            raise AssertionError(f"webhook answered {status} to update {update['update_id']}")


Until = str | Callable[[Call], bool] | None


def _matcher(until: Until) -> Callable[[Call], bool]:
    if until is None:
        return lambda c: c.method in TEXT_METHODS and bool(c.params.get("reply_markup"))
    if isinstance(until, str):
        return lambda c: c.method in TEXT_METHODS and until in str(c.params.get("text", ""))
    return until


class ScriptedUser:
    def __init__(self, api: FakeBotApi, transcripts: Transcripts, user_id: int, *, first_name: str = "奶奶",
                 transport: Callable[[dict], None] | None = None, timeout: float = 30):
        self.api, self.transcripts, self.id = api, transcripts, user_id
        self.first_name = first_name
        self.transport = transport or Polling(api)
        self.timeout = timeout
        self.sent: dict[int, list[str]] = {}  # update_id -> the texts the bot answered it with
        self.updates: list[dict[str, Any]] = []  # every update delivered by send(), in order

    # -- building updates --------------------------------------------------------------------------
    def text_update(self, text: str, update_id: int | None = None) -> dict[str, Any]:
        return text_update(update_id or next_update_id(), self.id, text, self.first_name)

    def callback_update(self, data: str, update_id: int | None = None) -> dict[str, Any]:
        """A press under the bot's newest message to this chat, as Telegram would send it."""
        message = self.api.last_message(self.id) or {}
        uid = update_id or next_update_id()
        return callback_update(uid, self.id, data, message_id=message.get("message_id", 1),
                               message_text=message.get("text", "…"), first_name=self.first_name,
                               reply_markup=message.get("reply_markup"))

    # -- talking -----------------------------------------------------------------------------------
    def send(self, update: dict[str, Any], until: Until = None, timeout: float | None = None) -> str:
        """Deliver ``update``; wait until the answer satisfies ``until``; → the texts sent meanwhile."""
        mark = len(self.transcripts.calls(self.id))
        self.updates.append(update)
        self.transport(update)
        index = self.transcripts.wait(self.id, _matcher(until), mark, timeout or self.timeout)
        calls = self.transcripts.calls(self.id)[mark:index + 1]
        texts = [c.params.get("text", "") for c in calls if c.method in TEXT_METHODS]
        self.sent[update["update_id"]] = texts
        return "\n".join(texts)

    def say(self, text: str, until: Until = None) -> str:
        return self.send(self.text_update(text), until)

    def press(self, data: str, until: Until = None) -> str:
        return self.send(self.callback_update(data), until)

    def buttons(self) -> list[dict]:
        for call in reversed(self.transcripts.calls(self.id)):
            markup = call.params.get("reply_markup")
            if call.method in ("sendMessage", "editMessageText") and markup:
                return [b for row in markup.get("inline_keyboard", []) for b in row]
        return []

    def press_label(self, label: str, until: Until = None) -> str:
        for button in self.buttons():
            if label in button["text"]:
                return self.press(button["callback_data"], until)
        raise AssertionError(f"user {self.id}: no button {label!r} in {[b['text'] for b in self.buttons()]}")

    def last_text(self) -> str:
        texts = self.transcripts.texts(self.id)
        return texts[-1] if texts else ""

    def unsure_until_summary(self, limit: int = 30, typed: bool = False) -> str:
        """Answer 不确定 (the button, or typed where there is none or ``typed``) until the summary (问完了)."""
        for _ in range(limit):
            last = self.last_text()
            if "问完了" in last:
                return last
            if not typed and any(b["text"] == "不确定" for b in self.buttons()) and "第" in last:
                self.press_label("不确定")
            else:
                self.say("不确定")
        raise AssertionError(f"user {self.id}: the questionnaire did not end")

    def to_the_father_question_after_the_age(self) -> str:
        """9岁 → 不确定 at the rarer situations → the parents "不一样，分开说" → the father question."""
        assert "孩子家里有没有下面这些情况" in self.say("9岁")
        assert "孩子的父母现在是什么情况" in self.press("c:health:4")
        out = self.press("c:parents:5")
        assert "孩子的父亲" in out, out
        return out

    # -- the conversation of the brief ------------------------------------------------------------
    def screening(self, typed_unsure: bool = False) -> str:
        """/start → family → 温岭 (the 户口 there) → safe → 9 → both parents deceased → 不确定… → result."""
        assert "是谁在问" in self.say("/start", until="是谁在问")
        assert "哪个地方" in self.press("role:self", until="哪个地方")  # the place question: one button, 户口在外地
        assert "孩子现在安全吗" in self.say("温岭", until="孩子现在安全吗")
        self.press("c:safety:0")
        out = self.say("9岁")
        while "父母现在是什么情况" not in out:  # the questions most telling for this family come first
            out = self.press_label("不确定")
        self.press_label("都去世了")
        self.unsure_until_summary(typed=typed_unsure)
        return self.press("result", until=lambda c: c.method in TEXT_METHODS and c.params.get("reply_markup")
                          and "依据" in str(c.params["reply_markup"]))

    def file_case(self, name: str, child_id: str) -> str:
        """From the result: file → consent → the form → the confirmation; → the confirmation."""
        assert "同意" in self.press("file")
        self.press("consent:y")
        self.say("王秀英")
        self.press("f:relation:0")
        self.say("13812345678")
        self.say(name)
        self.say(child_id)
        out = self.say("温岭市城东街道某某村")
        assert "138****5678" in out, out
        return out


def close_clients(clients: dict[int, httpx.Client]) -> None:
    for client in clients.values():
        client.close()
