"""The WeChat Official Account (公众号) callback: `create_wechat_app(engine=…)`, mounted at /wechat.

WeChat's server configuration points at https://HOST/wechat/ with the Token (WECHAT_TOKEN) and, for
安全模式, the EncodingAESKey (WECHAT_AES_KEY) and the AppID (WECHAT_APP_ID).

- GET: the URL check. The signature (sha1 of the sorted token, timestamp, nonce) must match; the
  answer is `echostr`. Anything else: 403.
- POST: a message or an event, in plain text or encrypted (encrypt_type=aes, checked by
  msg_signature). The user is `wx:<openid>`; the message goes to the same engine as Telegram's,
  in one transaction (conversation.session.handle).
- Redelivery: WeChat posts a message again (three tries) when no answer came within 5 s. Its MsgId
  is recorded in the same transaction as the state (the processed-updates table), so every worker
  agrees and a retry is answered "success" and not handled twice. Events carry no MsgId: their id
  is made from the user, the time and the event (negative, so it never meets a MsgId).
- Delivery is from the outbox (storage/outbox.py): the step's replies are committed with the state.
  The answer is awaited for WECHAT_PASSIVE_DEADLINE seconds (4.5). In time, the user's pending
  messages (this step's replies, after any notice kept for this visit) are merged; the first part
  of the text is the passive reply, the rest and the buttons (菜单消息) follow as customer-service
  messages. Late, the request is answered "success" and the whole answer goes as customer-service
  messages when it is ready. Notices, and anything whose sending failed, go out by the sender
  thread (wechat/sender.py); outside WeChat's 48-hour window they wait for the user's next message.
- Buttons: a tap on a menu item arrives as text with `bizmsgmenuid` = the button's action; a typed
  number presses a numbered button (the engine's own rule).
- Voice uses WeChat's Recognition text; without it, a kind request to type. Images, locations,
  links, videos and files each get a word on what to send instead. `subscribe` is /start; a
  scanned QR code with a scene (qrscene_CODE) is /start CODE, as a volunteer's referral link.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass

import anyio
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from casework.service import CaseService
from conversation.model import Input
from conversation.session import handle
from settings import get_settings
from storage import outbox
from templates import render_text
from wechat import client as wx_client
from wechat import sender
from wechat.compose import compose

log = logging.getLogger("tongzhu.wechat")

MAX_BODY = 64 * 1024  # WeChat's messages are a few KB
KIND_WORDS = {"image": "wechat_image", "location": "wechat_location", "link": "wechat_link"}
WX_BOT_ID = -1  # the dedupe key space of WeChat's MsgIds, apart from Telegram's update ids
MENU_KEYS = {"start": "/start", "help": "/help", "status": "/status", "restart": "/restart"}


@dataclass
class Inbound:
    """One WeChat message as the engine sees it: an input and the id that dedupes it, or a fixed word."""

    openid: str
    inp: Input | None = None
    update_id: int | None = None
    word: str | None = None  # a template name, answered without the engine


def inbound_of(msg) -> Inbound:
    openid = msg.source
    kind = msg.type
    if kind == "text":
        menu_id = msg._data.get("bizmsgmenuid")  # a tap on a 菜单消息 item
        inp = Input.pressed(menu_id) if menu_id else Input.typed(msg.content or "")
        return Inbound(openid, inp, msg.id or None)
    if kind == "voice":
        if (msg.recognition or "").strip():
            return Inbound(openid, Input.typed(msg.recognition), msg.id or None)
        return Inbound(openid, word="wechat_voice")
    if kind == "event":
        event = (msg.event or "").lower()
        key = str(msg._data.get("EventKey") or "")
        start = None
        if event == "subscribe":
            start = "/start"
        elif event in ("subscribe_scan", "scan"):
            start = f"/start {key}".strip()
        elif event == "click" and key in MENU_KEYS:
            start = MENU_KEYS[key]
        if start is None:
            return Inbound(openid)  # unsubscribe, view, location reports…: nothing to say
        return Inbound(openid, Input.typed(start), _event_id(openid, msg))
    return Inbound(openid, word=KIND_WORDS.get(kind, "wechat_other"))


def _event_id(openid: str, msg) -> int:
    """Events have no MsgId; WeChat's advice is to dedupe them on FromUserName + CreateTime."""
    digest = hashlib.sha256(f"{openid}|{msg.time}|{msg.event}|{msg._data.get('EventKey')}".encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


class WeChatChannel:
    def __init__(self, *, engine: Engine):
        settings = get_settings()
        self.engine = engine
        self.services = CaseService(engine=engine)
        self.token = settings.wechat_token or ""
        self.crypto = (WeChatCrypto(self.token, settings.wechat_aes_key, settings.wechat_app_id or "")
                       if settings.wechat_aes_key else None)
        self.client = wx_client.api_client(settings)
        self.deadline = settings.wechat_passive_deadline
        self.late: set[asyncio.Future] = set()  # answers still being worked out after a passive "success"
        self.sender = sender.Sender(engine=engine, client=self.client) if self.client is not None else None
        if self.sender is not None:
            self.sender.start()

    # -- HTTP

    def _signed(self, request: Request) -> bool:
        q = request.query_params
        if not self.token:
            return False
        try:
            check_signature(self.token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
        except InvalidSignatureException:
            return False
        return True

    async def verify(self, request: Request) -> Response:
        if not self._signed(request):
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(request.query_params.get("echostr", ""))

    async def receive(self, request: Request) -> Response:
        if not self._signed(request):
            return PlainTextResponse("forbidden", status_code=403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("too large", status_code=413)
        q = request.query_params
        aes = q.get("encrypt_type") == "aes"
        try:
            if aes:
                if self.crypto is None:
                    return PlainTextResponse("no EncodingAESKey configured", status_code=403)
                body = self.crypto.decrypt_message(body, q.get("msg_signature", ""), q.get("timestamp", ""),
                                                   q.get("nonce", ""))
            msg = parse_message(body)
        except (InvalidSignatureException, InvalidAppIdException):
            return PlainTextResponse("forbidden", status_code=403)
        except Exception:  # noqa: BLE001  (malformed XML, bad padding, missing fields)
            log.info("a malformed WeChat message", exc_info=True)
            return PlainTextResponse("bad request", status_code=400)
        if msg is None or not getattr(msg, "source", None):
            return PlainTextResponse("bad request", status_code=400)
        text, later = await self.answer(inbound_of(msg))
        background = BackgroundTask(later) if later else None
        if not text:
            return PlainTextResponse("success", background=background)
        xml = create_reply(text, message=msg, render=True)
        if aes:
            xml = self.crypto.encrypt_message(xml, q.get("nonce", ""), q.get("timestamp") or None)
        return Response(xml, media_type="application/xml", background=background)

    # -- answering

    async def answer(self, inbound: Inbound):
        """→ (the passive reply text or None, a coroutine function to run after the response or None)."""
        if inbound.word:
            return render_text(f"text/{inbound.word}.txt.j2").strip(), None
        if inbound.inp is None:
            return None, None
        job = asyncio.ensure_future(anyio.to_thread.run_sync(self._handle, inbound))
        done, _ = await asyncio.wait({job}, timeout=self.deadline)
        if job not in done:
            self.late.add(job)
            job.add_done_callback(self._late_done)
            return None, None
        try:
            items = job.result()
        except Exception:  # noqa: BLE001  (nothing was committed: WeChat's retry may succeed)
            log.exception("error while handling a WeChat message")
            return render_text("text/error.txt.j2").strip(), None
        if not items:
            return None, None  # WeChat's retry of a message already handled, or another worker sends
        composed = compose(i.reply for i in items)
        menu = self.client is not None and composed.menu_fits
        parts = composed.parts if menu else composed.with_choices()
        if self.client is None and len(parts) > 1:
            log.warning("no WECHAT_APP_SECRET: %d more part(s) of an answer cannot be sent", len(parts) - 1)

        async def later() -> None:
            result = sender.SENT
            if self.client is not None and (len(parts) > 1 or menu):
                result = await anyio.to_thread.run_sync(lambda: sender.send_batch(self.client, items, skip_parts=1))
            await anyio.to_thread.run_sync(sender.record, self.engine, items, result)

        return (parts[0] if parts else None), later

    def _handle(self, inbound: Inbound):
        """In a worker thread: the step (its replies queued in the outbox with the state), then the
        user's pending messages claimed for this answer; None for a message handled before."""
        key = f"wx:{inbound.openid}"
        outcome = handle(engine=self.engine, services=self.services, user_key=key, inp=inbound.inp,
                         update_id=inbound.update_id, bot_id=WX_BOT_ID)
        if outcome is None:
            return None
        # The user's earlier messages may still be going out (the rest of the last answer, sent
        # after its passive reply): this answer waits for them, so the order holds. Bounded: if
        # they are still held after the wait, the sender thread delivers this answer after them.
        give_up = time.monotonic() + max(self.deadline - 0.5, 0.0)
        while True:
            with Session(self.engine) as session, session.begin():
                items = sender.claim_for_reply(session, user_key=key)
                waiting = not items and outbox.pending_count(session, user_key=key) > 0
            if not waiting or time.monotonic() >= give_up:
                return items
            time.sleep(0.02)

    def _late_done(self, job: asyncio.Future) -> None:
        self.late.discard(job)
        if job.cancelled():
            return
        if job.exception() is not None:
            log.error("error while handling a WeChat message", exc_info=job.exception())
            return  # nothing committed; WeChat retries the message
        items = job.result()
        if not items:
            return
        task = asyncio.ensure_future(self._send_late(items))
        self.late.add(task)
        task.add_done_callback(self.late.discard)

    async def _send_late(self, items) -> None:
        if self.client is None:
            log.warning("an answer is ready after the passive deadline, but no WECHAT_APP_SECRET is set "
                        "to send it: it waits for the user's next message")
            return
        result = await anyio.to_thread.run_sync(sender.send_batch, self.client, items)
        await anyio.to_thread.run_sync(sender.record, self.engine, items, result)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.stop()


def create_wechat_app(*, engine: Engine) -> Starlette:
    channel = WeChatChannel(engine=engine)
    app = Starlette(routes=[Route("/", channel.verify, methods=["GET"]),
                            Route("/", channel.receive, methods=["POST"])])
    app.state.channel = channel
    return app
