"""The offline request layer of the benchmark: ``OfflineRequest`` (botapi_fakes.offline) that files
each call under its chat and forgets it once the simulated user has read it.

The plain OfflineRequest keeps every call of the run in one list; 200 users × ~30 updates make that
list, and scanning it for each user's newest message, part of what is measured.  Here each chat has
its own short list, so the benchmark measures the bot, not the fake.  Every call is still answered
like the Bot API (a Message for sendMessage, True for answerCallbackQuery …); validating each call
against the Bot API spec (what the tests do) is optional (``validate=True``), since it costs about as
much as a template render and is not part of the bot.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from botapi_fakes.offline import Call, OfflineRequest
from botapi_fakes.spec import coerce_params, validate_call


class BenchRequest(OfflineRequest):
    def __init__(self, *, validate: bool = False) -> None:
        super().__init__()
        self.validate = validate
        self.by_chat: dict[str, list[Call]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self._last_message: dict[str, dict] = {}

    def record(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        if self.validate:
            params = coerce_params(method, params)
            self.problems += [f"{method}: {p}" for p in validate_call(method, params)]
        self.counts[method] += 1
        chat = params.get("chat_id")
        if chat is not None:
            self.by_chat[str(chat)].append(Call(method, params))
        return params

    def _message_answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        status, body = super()._message_answer(method, params)
        # keep only each chat's newest message (the one a button is pressed under)
        chat = str(params.get("chat_id"))
        if status == 200 and isinstance(body.get("result"), dict):
            old = self._last_message.get(chat)
            if old is not None and old["message_id"] != body["result"]["message_id"]:
                self._messages.pop((chat, old["message_id"]), None)
            self._last_message[chat] = body["result"]
        return status, body

    def last_message(self, chat_id: int | str) -> dict | None:
        return self._last_message.get(str(chat_id))

    def take(self, chat_id: int | str) -> list[Call]:
        """The calls to ``chat_id`` since the last take (and forget them)."""
        calls = self.by_chat.pop(str(chat_id), [])
        return calls

    def forget(self, chat_id: int | str) -> None:
        self.by_chat.pop(str(chat_id), None)
        message = self._last_message.pop(str(chat_id), None)
        if message is not None:
            self._messages.pop((str(chat_id), message["message_id"]), None)
