"""A fake Telegram Bot API HTTP server on 127.0.0.1 for end-to-end tests and benchmarks.

    with FakeBotApi() as api:
        app = ApplicationBuilder().token("123:ABC").base_url(api.base_url).build()
        ...  # start polling
        api.push_text(42, "/start")
        api.wait_for_text(42, "你好")
        assert api.problems == []

Serves /bot<token>/<method> (GET or POST; form-encoded, multipart or JSON bodies) with the
answers of ``offline.FakeTelegram``, plus a long-polling getUpdates that honours ``offset``
(an update is served again until a later offset confirms it) and ``timeout`` (capped at
``poll_cap`` seconds so shutdown is quick), and webhook delivery with ``deliver_webhook``.
Every call is validated against the Bot API spec; failures collect in ``problems``.
Built on the stdlib ThreadingHTTPServer: one thread per connection, control methods thread-safe.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from .offline import FakeTelegram, UploadedFile, error, ok
from .updates import callback_update, text_update


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Form-encoded, multipart (files become UploadedFile) or JSON request body -> dict."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                params[name] = UploadedFile(filename, data, part.get_content_type())
            else:
                params[name] = data.decode("utf-8")
        return params
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Bot API
    timeout = 30  # seconds an idle keep-alive connection stays open
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        if match is None:
            status, payload = error(404, "Not Found")
        else:
            params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
            try:
                params.update(parse_body(self.headers.get("Content-Type", ""), body))
            except ValueError as exc:
                status, payload = error(400, f"Bad Request: cannot parse the request body: {exc}")
            else:
                status, payload = self.server.api.serve(match.group(2), params)
        if status == DROP:  # a dropped connection: the call was received, no answer ever comes
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up, e.g. PTB cancelled a long poll on stop
            self.close_connection = True

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


DROP = -1  # serve() status meaning: close the connection without an answer

FAULT_KINDS = ("429", "500", "slow", "drop", "too_old")


class Faults:
    """Faults the fake Bot API injects, per method, at a rate, from a seeded random generator:

        api.faults.set("sendMessage", {"429": 0.05, "500": 0.05, "slow": 0.05, "drop": 0.05})
        api.faults.set("answerCallbackQuery", {"too_old": 0.3})

    - "429": Too Many Requests with retry_after=1 (nothing delivered);
    - "500": Internal Server Error (nothing delivered);
    - "too_old": 400 "query is too old" (answerCallbackQuery);
    - "slow": the call IS carried out, but answered after `slow_seconds` (past the bot's read timeout);
    - "drop": the call IS carried out, then the connection is closed without an answer.
    `injected` counts what was injected, by kind.  `every` (a number) fails every n-th call instead.
    """

    def __init__(self, seed: int = 0, slow_seconds: float = 2.0) -> None:
        self.rng = random.Random(seed)
        self.slow_seconds = slow_seconds
        self.rules: dict[str, dict[str, float]] = {}
        self.injected: Counter[str] = Counter()
        self.lock = threading.Lock()

    def set(self, method: str, rates: dict[str, float]) -> None:
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}")
        with self.lock:
            self.rules[method] = dict(rates)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def pick(self, method: str) -> str | None:
        with self.lock:
            rates = self.rules.get(method)
            if not rates:
                return None
            roll, acc = self.rng.random(), 0.0
            for kind, rate in rates.items():
                acc += rate
                if roll < acc:
                    self.injected[kind] += 1
                    return kind
            return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of the bot's connections must not overflow the listen backlog

    def __init__(self, api: "FakeBotApi") -> None:
        self.api = api
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connection resets while shutting down are expected


class FakeBotApi(FakeTelegram):
    """Fake Bot API server; use as a context manager (see module docstring)."""

    def __init__(self, poll_cap: float = 2.0) -> None:
        super().__init__()
        self.poll_cap = poll_cap
        self._updates: list[dict] = []  # unconfirmed updates, oldest first
        self._next_update_id = 1
        self._closing = False
        self.webhook: dict[str, Any] | None = None  # the setWebhook parameters while one is set
        self.base_url = ""
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.faults = Faults()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "FakeBotApi":
        self._closing = False
        self._httpd = _Server(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="FakeBotApi", daemon=True)
        self._thread.start()
        host, port = self._httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}/bot"
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()  # wake long polls
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._httpd.lock:
            for conn in list(self._httpd.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> "FakeBotApi":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- Bot API ------------------------------------------------------------------------------
    def serve(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        """Answer one Bot API call (called from the server's handler threads)."""
        fault = self.faults.pick(method) if method != "getUpdates" else None
        if fault == "429":
            return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                         "parameters": {"retry_after": 1}}
        if fault == "500":
            return error(500, "Internal Server Error")
        if fault == "too_old":
            return error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        params = self.record(method, params)
        if fault in ("slow", "drop"):
            with self._cond:
                status, payload = self.answer(method, params)
            if fault == "drop":
                return DROP, payload
            time.sleep(self.faults.slow_seconds)
            return status, payload
        if method != "getUpdates":
            with self._cond:
                status, payload = self.answer(method, params)
                if status == 200 and method in ("setWebhook", "deleteWebhook"):
                    self.webhook = params if method == "setWebhook" else None
                    if params.get("drop_pending_updates"):
                        self._updates.clear()
                return status, payload
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), self.poll_cap)
        with self._cond:
            if self.webhook is not None:
                return error(409, "Conflict: can't use getUpdates method while webhook is active; "
                                  "use deleteWebhook to delete the webhook first")
            if offset > 0:  # confirms every update below offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            while not self._updates and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return ok(self._updates[:limit])

    # -- control API for tests ----------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (update_id assigned if missing); return its id."""
        with self._cond:
            if "update_id" not in update:
                update = {**update, "update_id": self._next_update_id}
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._updates.append(update)
            self._cond.notify_all()
            return update["update_id"]

    def push_text(self, user_id: int, text: str, first_name: str = "奶奶") -> int:
        with self._cond:
            return self.push_update(text_update(self._next_update_id, user_id, text, first_name))

    def push_callback(self, user_id: int, data: str, message_id: int | None = None,
                      first_name: str = "奶奶") -> int:
        """The user presses a button with ``data`` under the bot's message ``message_id``
        (default: the last message the bot sent to this chat)."""
        with self._cond:
            message = (self._messages.get((str(user_id), message_id)) if message_id is not None
                       else self.last_message(user_id)) or {}
            return self.push_update(callback_update(
                self._next_update_id, user_id, data,
                message_id=message_id if message_id is not None else message.get("message_id", 1),
                message_text=message.get("text", "…"), first_name=first_name,
                reply_markup=message.get("reply_markup")))

    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return list(self._updates)

    def deliver_webhook(self, url: str, update: dict[str, Any], secret_token: str | None = None,
                        timeout: float = 10) -> int:
        """POST ``update`` to the bot's webhook ``url`` as Telegram does; return the HTTP status."""
        if "update_id" not in update:
            with self._cond:
                update = {**update, "update_id": self._next_update_id}
                self._next_update_id += 1
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        with httpx.Client(trust_env=False, timeout=timeout) as client:
            return client.post(url, json=update, headers=headers).status_code
