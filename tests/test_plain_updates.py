"""`TongzhuApplication.process_json` (issue 15, item 2): a typed message or a conversation button goes
straight to its handler's function without python-telegram-bot parsing the update; everything else
is parsed and dispatched as before.  These drive the real Application on the real database."""

from __future__ import annotations

import asyncio
import itertools
import re

from telegram import Update

from bench.flow import Stats, User
from bench.layer import BenchRequest
from botapi_fakes.updates import callback_update, text_update
from handlers import telegram_app
from handlers.telegram_app import _plain_update, build_application
from storage.db import make_engine


class ParsedUser(User):
    """A bench family whose updates python-telegram-bot parses and dispatches (the old path)."""

    async def _process(self, update: dict) -> None:
        await self.app.process_update(Update.de_json(update, self.app.bot))


def _calls(user_cls, url: str) -> list[tuple]:
    async def run() -> list[tuple]:
        engine = make_engine(url)
        request = BenchRequest(validate=True)
        app = build_application(token="123456:PLAIN", engine=engine, request=request, maintenance=False)
        seen: list[tuple] = []
        record = request.record

        def keep(method, params):  # every Bot API call, in order
            params = record(method, params)
            seen.append((method, params.get("chat_id"), re.sub(r"TZ\d{8}-[0-9A-F]{6}", "TZ…", params.get("text", "")),
                         str(params.get("reply_markup")), params.get("message_id"), "callback_query_id" in params))
            return params

        request.record = keep
        try:
            async with app:
                user = user_cls(app, request, 4343, itertools.count(1), Stats())
                assert "预申请编号：TZ" in await user.conversation(3)
                assert not request.problems, request.problems
        finally:
            engine.dispose()
        return seen

    return asyncio.run(run())


def test_a_whole_conversation_makes_the_same_bot_api_calls_either_way(tmp_path):
    plain = _calls(User, f"sqlite:///{tmp_path / 'plain.db'}")
    parsed = _calls(ParsedUser, f"sqlite:///{tmp_path / 'parsed.db'}")
    assert plain == parsed
    assert any(c[0] == "answerCallbackQuery" for c in plain) and len(plain) > 30


def test_which_updates_take_the_plain_path():
    text = text_update(7, 42, "温岭")
    assert _plain_update(text) == ("text", 42, text["message"]["from"]["first_name"], 7, "温岭")
    press = callback_update(8, 42, "c:safety:0", message_id=5)
    assert _plain_update(press)[0] == "press" and _plain_update(press)[3:] == (8, press["callback_query"]["id"],
                                                                               "c:safety:0", 5)
    # commands, staff buttons, edits, buttons without a message, other messages, anything odd: parsed
    assert _plain_update(text_update(9, 42, "/start")) is None
    commanded = text_update(9, 42, "hello")
    commanded["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 5}]
    assert _plain_update(commanded) is None
    assert _plain_update(callback_update(10, 42, "s:case:TZ1")) is None
    edited = text_update(11, 42, "温岭")
    edited["edited_message"] = edited.pop("message")
    assert _plain_update(edited) is None
    inline = callback_update(12, 42, "c:safety:0")
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "abc"
    assert _plain_update(inline) is None
    photo = text_update(13, 42, "x")
    del photo["message"]["text"]
    photo["message"]["photo"] = []
    assert _plain_update(photo) is None
    for broken in ({"update_id": 14, "message": {"text": "x"}},
                   {**text_update(15, 42, "x"), "extra": {}},
                   {"update_id": "16", "message": text_update(16, 42, "x")["message"]}):
        assert _plain_update(broken) is None
    nameless = text_update(17, 42, "x")
    del nameless["message"]["from"]["first_name"]
    assert _plain_update(nameless) is None


def test_an_error_on_the_plain_path_reaches_the_error_handler_and_a_redelivery_is_answered_once(tmp_path, monkeypatch):
    async def run() -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
        request = BenchRequest(validate=True)
        app = build_application(token="123456:PLAIN", engine=engine, request=request, maintenance=False)
        try:
            async with app:
                ids = itertools.count(1)
                user = User(app, request, 4545, ids, Stats())
                assert "是谁在问" in await user.say("/start")
                real = telegram_app.handle
                fail = {"left": 1}

                def flaky(**kwargs):
                    if fail["left"] and kwargs.get("update_id") is not None:
                        fail["left"] -= 1
                        raise RuntimeError("the database went away")
                    return real(**kwargs)

                monkeypatch.setattr(telegram_app, "handle", flaky)
                update = callback_update(next(ids), 4545, "role:self", message_id=request.last_message(4545)["message_id"])
                assert await app.process_json(update) is False  # not processed: the webhook answers 500
                apology = [c.params["text"] for c in request.take(4545) if c.method == "sendMessage"]
                assert apology, "the error handler answered the user"
                assert await app.process_json(update) is True  # Telegram sends it again: processed now
                first = [c for c in request.take(4545) if c.method in ("sendMessage", "editMessageText")]
                assert first and "哪个地方" in first[-1].params["text"]
                assert await app.process_json(update) is True  # once more: a duplicate, nothing sent again
                assert not [c for c in request.take(4545) if c.method in ("sendMessage", "editMessageText")]
                assert not request.problems, request.problems
        finally:
            engine.dispose()

    asyncio.run(run())
