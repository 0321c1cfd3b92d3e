"""In-process fake Telegram: ``OfflineRequest`` records every Bot API call PTB makes and answers
with realistic JSON, so a real ``Application`` runs without a network.

    request = OfflineRequest()
    app = ApplicationBuilder().token("123:ABC").request(request).get_updates_request(request).build()
    async with app:
        await app.process_update(Update.de_json(text_update(1, 42, "/start"), app.bot))
    assert request.sent_texts(42) and request.problems == []

``FakeTelegram`` holds what both fakes share (this one and ``server.FakeBotApi``): the call log,
validation problems, the messages the bot sent, and the answer for each method.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from typing import Any, Callable, NamedTuple

from telegram.request import BaseRequest, RequestData

from .spec import coerce_params, validate_call
from .updates import BOT_USER

TRUE_METHODS = {"answerCallbackQuery", "setMyCommands", "deleteMyCommands", "deleteWebhook",
                "setWebhook", "setChatMenuButton", "sendChatAction", "deleteMessage"}
MESSAGE_METHODS = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"}
TEXT_METHODS = {"sendMessage", "editMessageText"}


class UploadedFile(NamedTuple):
    filename: str
    content: bytes
    mime_type: str


class Call(NamedTuple):
    method: str
    params: dict[str, Any]  # decoded values; uploaded files as UploadedFile


def ok(result: Any) -> tuple[int, dict]:
    return 200, {"ok": True, "result": result}


def error(code: int, description: str) -> tuple[int, dict]:
    return code, {"ok": False, "error_code": code, "description": description}


def _chat(chat_id: Any) -> dict:
    if isinstance(chat_id, int):
        return {"id": chat_id, "type": "private"}
    return {"id": -1001000000001, "type": "channel", "username": str(chat_id).lstrip("@")}


class FakeTelegram:
    """Call log plus Bot API answers, shared by the in-process and the HTTP fake (thread-safe)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()  # guards everything below; RLock inside
        self._calls: list[Call] = []
        self.problems: list[str] = []
        self._message_ids = itertools.count(1001)
        self._messages: dict[tuple[str, int], dict] = {}  # (chat_id, message_id) -> Message

    # -- recording and answering ------------------------------------------------------------
    def record(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Decode, validate and log one call; return the decoded params."""
        params = coerce_params(method, {k: v for k, v in params.items() if v is not None})
        problems = [f"{method}: {p}" for p in validate_call(method, params)]
        with self._cond:
            self._calls.append(Call(method, params))
            self.problems += problems
            self._cond.notify_all()
        return params

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        """Record the call and return (HTTP status, JSON body) as the Bot API would."""
        params = self.record(method, params)
        with self._cond:
            return self.answer(method, params)

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        if method == "getMe":
            return ok(BOT_USER)
        if method in TRUE_METHODS:
            return ok(True)
        if method == "getWebhookInfo":
            return ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        if method == "getUpdates":
            return ok([])
        if method in MESSAGE_METHODS:
            return self._message_answer(method, params)
        self.problems.append(f"{method}: not implemented by the fake Bot API")
        return error(400, f"Bad Request: method {method} is not implemented by the fake")

    def _message_answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        if "inline_message_id" in params:
            return ok(True)
        chat_id = params.get("chat_id")
        if method.startswith("edit"):
            key = (str(chat_id), int(params.get("message_id", 0)))
            old = self._messages.get(key)
            message = dict(old or {"message_id": key[1], "from": BOT_USER, "chat": _chat(chat_id),
                                   "date": int(time.time()), "text": ""})
            if method == "editMessageText":
                message["text"] = params.get("text", "")
            message.pop("reply_markup", None)  # an edit without reply_markup removes the keyboard
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            message.pop("edit_date", None)
            if old is not None and {k: v for k, v in old.items() if k != "edit_date"} == message:
                return error(400, "Bad Request: message is not modified: specified new message "
                             "content and reply markup are exactly the same as a current content "
                             "and reply markup of the message")
            message["edit_date"] = int(time.time())
        else:
            message = {"message_id": next(self._message_ids), "from": BOT_USER,
                       "chat": _chat(chat_id), "date": int(time.time())}
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:  # sendDocument
                doc = params.get("document")
                upload = doc if isinstance(doc, UploadedFile) else None
                message["document"] = {
                    "file_id": f"BQACAgDoc{message['message_id']}",
                    "file_unique_id": f"AgADoc{message['message_id']}",
                    "file_name": upload.filename if upload else "document",
                    "mime_type": upload.mime_type if upload else "application/octet-stream",
                    "file_size": len(upload.content) if upload else 0}
                if params.get("caption"):
                    message["caption"] = params["caption"]
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
        self._messages[(str(chat_id), message["message_id"])] = message
        return ok(message)

    # -- helpers for tests --------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of sendMessage and editMessageText calls (to ``chat_id``), oldest first."""
        return [c.params.get("text", "") for c in self.calls()
                if c.method in TEXT_METHODS and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))]

    def last_markup(self, chat_id: int | str) -> dict | None:
        """reply_markup of the latest message call to ``chat_id`` that carried one, else None."""
        for c in reversed(self.calls()):
            if c.method in MESSAGE_METHODS and str(c.params.get("chat_id")) == str(chat_id) \
                    and c.params.get("reply_markup"):
                return c.params["reply_markup"]
        return None

    def last_message(self, chat_id: int | str) -> dict | None:
        """The Message the fake returned last for ``chat_id`` (after edits)."""
        with self._cond:
            mine = [m for (chat, _), m in self._messages.items() if chat == str(chat_id)]
            return max(mine, key=lambda m: m["message_id"]) if mine else None

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 10, start: int = 0) -> Call:
        """Block (another thread than the bot's event loop!) until a call at index >= ``start``
        satisfies ``predicate``; return it or raise TimeoutError."""
        with self._cond:
            found = self._cond.wait_for(
                lambda: next((c for c in self._calls[start:] if predicate(c)), None), timeout)
            if found is None:
                recent = ", ".join(c.method for c in self._calls[-10:])
                raise TimeoutError(f"no matching Bot API call within {timeout} s; last calls: {recent}")
            return found

    def wait_for_text(self, chat_id: int | str, contains: str = "", timeout: float = 10,
                      start: int = 0) -> Call:
        return self.wait_for(lambda c: c.method in TEXT_METHODS
                             and str(c.params.get("chat_id")) == str(chat_id)
                             and contains in str(c.params.get("text", "")), timeout, start)

    def clear(self) -> None:
        """Forget recorded calls and problems (sent messages stay, so edits still work)."""
        with self._cond:
            self._calls.clear()
            self.problems.clear()


def request_params(request_data: RequestData | None) -> dict[str, Any]:
    """PTB's parameters plus uploaded files; parts referenced as attach://name are left out."""
    if request_data is None:
        return {}
    params: dict[str, Any] = dict(request_data.parameters)
    attached = set(re.findall(r"attach://([\w-]+)", json.dumps(request_data.json_parameters)))
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        if name not in attached:
            data = content.read() if hasattr(content, "read") else content
            params[name] = UploadedFile(filename, data, mime_type)
    return params


class OfflineRequest(FakeTelegram, BaseRequest):
    """A ``telegram.request.BaseRequest`` that never touches the network (see module docstring)."""

    POLL_PAUSE = 0.05  # seconds an empty getUpdates "long-polls", so a polling loop does not spin

    def __init__(self) -> None:
        FakeTelegram.__init__(self)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None,
                         connect_timeout: Any = None, pool_timeout: Any = None) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = request_params(request_data)
        if api_method == "getUpdates":
            timeout = float(params.get("timeout") or 0)
            await asyncio.sleep(min(timeout, self.POLL_PAUSE) or 0.01)
        status, body = self.handle(api_method, params)
        return status, json.dumps(body).encode("utf-8")
