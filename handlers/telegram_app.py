"""The Telegram adapter: python-telegram-bot carries updates in and messages out; nothing else.

Every update goes to `conversation.session.handle` (or the staff desk, casework/staff.py), which runs
in one database transaction: the state is read and written there, never kept in this process, and
the replies and notices are queued in the outbox (storage/outbox.py) in that same transaction.  They
are then delivered from the outbox — at once, under the chat's lock, and by a background loop for
anything left (a crash, a 429, a timeout) — by `send_item`, which tells a certain failure (retry)
from an unknown outcome (tried once more, then left) and from an undeliverable message.

Long polling goes through the inbox (storage/inbox.py): an update fetched is written there before
its offset is confirmed to Telegram, and the row is deleted only once the update was processed.
The webhook (handlers/webhook.py) answers 200 only once the update was processed.

The handlers are wired explicitly, in order, as in python-telegram-bot's rules-bot:

    0. edited messages: a kind note (an edit is never taken as an answer)
    1. staff commands and staff buttons (/queue, /case, "s:" buttons) — checked on the server
    2. the family's commands (/start /help /status /restart /cancel /forget /ask)
    3. buttons of the conversation
    4. typed text
    5. anything else (a photo, a sticker): a kind word on what to send instead
    and an error handler that always answers the user.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session
from telegram import (BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler,
                          ContextTypes, MessageHandler, filters)
from telegram.request import BaseRequest, HTTPXRequest

from casework import staff
from settings import get_settings
from casework.jobs import maintenance_loop
from casework.service import CaseService
from conversation.model import Input, Reply
from conversation.session import handle
from freetext.matcher import get_index
from storage import hot, inbox, outbox
from storage.db import is_sqlite
from templates import render_reply, split_message, words

log = logging.getLogger("tongzhu.telegram")

FAMILY_COMMANDS = ["start", "help", "status", "restart", "cancel", "forget", "ask"]
HTML = ParseMode.HTML.value
# database threads per process (Bridge): SQLite has one writer; on PostgreSQL a few threads overlap
# their round trips to the server (one thread: about 20 % fewer updates per second, no less CPU per
# update, in the closed-loop benchmark: docs/benchmarks.md)
DB_THREADS = {"sqlite": 1, "postgresql": 4}
SECOND_TRY_READ_TIMEOUT = 30.0  # after an unknown outcome, the one more try waits longer for the answer


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
                                 for row in reply.buttons])


def keyboard_data(reply: Reply) -> dict[str, Any] | None:
    """The reply's inline keyboard as the Bot API's plain data (what `keyboard(reply).to_dict()`
    gives, without building the objects)."""
    if not reply.buttons:
        return None
    return {"inline_keyboard": [[{"text": b.label, "callback_data": b.action} for b in row] for row in reply.buttons]}


async def api_call(bot, method: str, data: dict[str, Any], **timeouts: Any) -> Any:
    """One Bot API call through the application's bot, returning Telegram's raw answer.

    `bot.send_message` builds a `Message` (and its chat, user, keyboard …) from every answer, which
    was the biggest part of the event loop's time per update (issue 15); the sender only needs to
    know whether the call succeeded.  `Bot._post` is what every `Bot` method calls: defaults, the
    rate limiter (ExtBot), the request layer and the mapping of errors to RetryAfter, Forbidden,
    BadRequest, TimedOut … are all kept; only the object building is skipped.  (The public
    `do_api_request` does the same but warns on every call for a method PTB implements.)
    python-telegram-bot is pinned in the lock files; the fault tests (tests/test_telegram_faults.py)
    go through this path."""
    return await bot._post(method, data, **timeouts)  # noqa: SLF001


def user_key(telegram_id: int) -> str:
    return f"tg:{telegram_id}"


def chat_of(key: str) -> int | None:
    return int(key[3:]) if key.startswith("tg:") and key[3:].lstrip("-").isdigit() else None


def bot_id_of(token: str) -> int:
    head = (token or "").split(":", 1)[0]
    return int(head) if head.isdigit() else 0


class Bridge:
    """What the handlers share: the database engine, the services, one lock per chat, and where the
    database work runs: a few threads of its own (`DB_THREADS`), each keeping its connection between
    transactions (storage/hot.py Held: no pool checkout, and no pre-ping on PostgreSQL).  SQLite:
    one thread (one writer anyway, and no thread ever sleeps in its busy handler); PostgreSQL: a few,
    to overlap the round trips to the server, while several processes (webhook workers) are how it
    scales past one core."""

    def __init__(self, engine: Engine, *, bot_id: int = 0):
        self.engine = engine
        self.bot_id = bot_id
        self.bot = None  # set by wire(): the application's bot, for the sender
        self.services = CaseService(engine=engine)
        self.locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.sqlite = engine is not None and is_sqlite(engine)
        self.executor = (ThreadPoolExecutor(max_workers=DB_THREADS.get(engine.dialect.name, 4),
                                            thread_name_prefix="db") if engine is not None else None)
        # each database thread keeps its connection between updates (storage/hot.py Held)
        self.held = hot.Held(engine) if engine is not None else None
        self.use_inbox = False  # long polling: updates go through storage/inbox.py
        self.inflight: set[int] = set()  # inbox update ids queued or being processed here
        self.failed: set[int] = set()  # update ids whose processing raised (the error handler saw it)
        self.settled: set[int] = set()  # update ids committed by handle (inbox row already gone)
        self.wake = asyncio.Event()
        # SQLite: delivered messages are recorded by the next transaction on the database thread
        # (storage/outbox.py Delivered); PostgreSQL records each delivery at once, with a look for
        # what another worker queued for the chat meanwhile (flush)
        self.delivered = outbox.Delivered() if self.sqlite else None
        self._drain_queued = False

    def lock(self, chat_id: int) -> asyncio.Lock:
        """One chat's updates one at a time, in the order they came (taken before any await).
        The lock lives as long as someone holds or waits for it."""
        lock = self.locks.get(chat_id)
        if lock is None:
            lock = self.locks[chat_id] = asyncio.Lock()
        return lock

    async def _db(self, fn, /, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, **kwargs))

    def _tx(self, fn, /, **kwargs):
        with Session(self.engine) as session, session.begin():
            return fn(session, **kwargs)

    async def tx(self, fn, /, **kwargs):
        """fn(session, **kwargs) in its own transaction, on the database thread."""
        return await self._db(functools.partial(self._tx, fn), **kwargs)

    def record_sent(self, ids: list[int]) -> None:
        """Messages delivered (SQLite): the next transaction on the database thread records them, or
        a short one queued now when none is queued yet (so an idle bot records them at once too)."""
        self.delivered.add(ids)
        if not self._drain_queued:
            self._drain_queued = True
            future = asyncio.get_running_loop().run_in_executor(self.executor, self.drain)
            future.add_done_callback(_log_failure)

    def drain(self) -> None:
        """On the database thread: record the delivered messages no transaction took yet."""
        self._drain_queued = False  # before taking: ids added from now on get a drain of their own
        self.delivered.drain(self.held)

    @property
    def recorder(self):
        return self.record_sent if self.delivered is not None else None

    async def run(self, update: Update, inp: Input, *, update_id: int | None = -1, edit_of: int | None = None,
                  queued: list | None = None):
        user = update.effective_user
        return await self.run_as(user.id, user.first_name, update.update_id, inp, update_id=update_id,
                                 edit_of=edit_of, queued=queued)

    async def run_as(self, telegram_id: int, first_name: str | None, this_update: int, inp: Input, *,
                     update_id: int | None = -1, edit_of: int | None = None, queued: list | None = None):
        """`run` from the update's plain fields (the fast path of `TongzhuApplication.process_json`)."""
        outcome = await self._db(handle, engine=self.held, services=self.services, user_key=user_key(telegram_id),
                                 inp=inp, update_id=this_update if update_id == -1 else update_id,
                                 telegram_id=telegram_id, display_name=first_name, bot_id=self.bot_id,
                                 edit_of=edit_of, queued=queued, inbox=self.use_inbox, delivered=self.delivered)
        if update_id is not None:
            self.settled.add(this_update)  # committed: its inbox row went in that transaction
        return outcome

    async def run_staff(self, update: Update, text: str | None, action: str | None, edit_of: int | None = None,
                        queued: list | None = None):
        user = update.effective_user
        outcome = await self._db(staff.handle, engine=self.engine, user_key=user_key(user.id), text=text,
                                 action=action, update_id=update.update_id, telegram_id=user.id,
                                 bot_id=self.bot_id, edit_of=edit_of, queued=queued)
        self.settled.add(update.update_id)
        return outcome

    async def flush(self, key: str, queued: list | None = None) -> outbox.Counts:
        """Deliver `key`'s messages now: those just queued and leased to us, else whatever is
        pending (the background loop catches anything left).  With several workers (PostgreSQL),
        after our own we also send what another worker queued for this chat meanwhile: it found
        ours still pending and left its own to go after them."""
        if chat_of(key) is None:
            return outbox.Counts()
        send = functools.partial(send_item, self.bot)
        if queued and not self.sqlite:
            # several workers: another one may have queued the next answer meanwhile.  The mark of
            # ours and a look for more are one job; the claim (outbox.deliver) only when there is more.
            due = True

            async def record_and_look(ids: list[int]) -> None:
                nonlocal due
                due = await self._db(hot.mark_sent_and_look, engine=self.held, item_ids=ids, user_key=key,
                                     channel="tg")

            counts = await outbox.send_items(self.engine, items=queued, send=send, run_db=self._db,
                                             record_sent=record_and_look)
            if due:
                more = await outbox.deliver(self.engine, channel="tg", user_key=key, run_db=self._db, send=send)
                counts.sent, counts.retried, counts.unknown = (counts.sent + more.sent, counts.retried + more.retried,
                                                               counts.unknown + more.unknown)
        elif queued:
            counts = await outbox.send_items(self.engine, items=queued, send=send, run_db=self._db,
                                             record_sent=self.recorder)
        else:
            counts = await outbox.deliver(self.engine, channel="tg", user_key=key, run_db=self._db, send=send,
                                          record_sent=self.recorder)
        if counts.retried or counts.unknown:
            self.wake.set()
        return counts


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("could not record delivered messages now; the next transaction does",
                  exc_info=future.exception())


# ---------------------------------------------------------------- delivering one outbox message

def _not_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached Telegram (so sending again is safe)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    if isinstance(exc, TimedOut):
        return "pool" in str(exc).lower()
    # a NetworkError without a transport error behind it is an HTTP error status (500, 502): not sent
    return not isinstance(cause, httpx.HTTPError)


async def send_item(bot, item: outbox.Item) -> None:
    """Send one outbox message to its Telegram chat, raising what storage/outbox.py understands."""
    chat_id = chat_of(item.user_key)
    reply = item.reply
    parts = split_message(render_reply(reply, html=True))
    markup = keyboard_data(reply)
    timeouts: dict[str, Any] = {"read_timeout": SECOND_TRY_READ_TIMEOUT} if item.unknown else {}
    done = item.parts_sent
    try:
        if item.edit_of and reply.edit and len(parts) == 1 and done == 0:
            try:
                await api_call(bot, "editMessageText", {"chat_id": chat_id, "message_id": int(item.edit_of),
                                                        "text": parts[0], "parse_mode": HTML,
                                                        "reply_markup": markup}, **timeouts)
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return
                log.info("edit failed (%s): sending a new message", exc)
        for i in range(done, len(parts)):
            await api_call(bot, "sendMessage", {"chat_id": chat_id, "text": parts[i], "parse_mode": HTML,
                                                "reply_markup": markup if i == len(parts) - 1 else None},
                           **timeouts)
            done = i + 1
    except RetryAfter as exc:
        after = exc.retry_after
        seconds = after.total_seconds() if hasattr(after, "total_seconds") else float(after)
        raise outbox.RetryLater(seconds, "429", parts_sent=done) from exc
    except Forbidden as exc:
        raise outbox.Undeliverable(f"forbidden: {exc}") from exc
    except BadRequest as exc:
        raise outbox.Undeliverable(f"bad request: {exc}") from exc
    except (TimedOut, NetworkError) as exc:
        if _not_sent(exc):
            raise outbox.RetryLater(min(30.0, 1.0 + item.attempts), str(exc)[:100], parts_sent=done) from exc
        raise outbox.OutcomeUnknown(str(exc)[:100], parts_sent=done) from exc
    except TelegramError as exc:
        raise outbox.Undeliverable(str(exc)[:100]) from exc


async def sender_loop(bridge: Bridge) -> None:
    """Deliver whatever is pending in the outbox for Telegram: after a restart, after a 429 or a
    timeout, and notices written by other processes (the office desk)."""
    while True:
        try:
            if bridge.delivered:  # left by a failed transaction
                await bridge._db(bridge.drain)
            await outbox.deliver(bridge.engine, channel="tg", run_db=bridge._db, min_age=2.0,
                                 send=functools.partial(send_item, bridge.bot), record_sent=bridge.recorder)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the loop must live on (the database may be away a moment)
            log.exception("outbox delivery failed; trying again shortly")
        bridge.wake.clear()
        try:
            await asyncio.wait_for(bridge.wake.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass


async def send_direct(bot, chat_id: int, replies: list[Reply]) -> None:
    """Only for words that change nothing (a sticker, the database is away): sent, not queued."""
    for reply in replies:
        for part in split_message(render_reply(reply, html=True)):
            await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML, reply_markup=keyboard(reply))


async def deliver_outcome(bridge: Bridge, key: str, outcome: Any, queued: list | None = None) -> None:
    await bridge.flush(key, queued)
    for notice in (outcome.notices if outcome is not None else []):
        if notice.user_key != key:
            await bridge.flush(notice.user_key)


def bridge_of(context: ContextTypes.DEFAULT_TYPE) -> Bridge:
    return context.application.bot_data["bridge"]


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    await typed(bridge_of(context), user.id, user.first_name, update.update_id, update.effective_message.text or "")


async def typed(bridge: Bridge, user_id: int, first_name: str | None, update_id: int, text: str) -> None:
    """A message typed (or a command of the family's): on_text, and the fast path of process_json."""
    async with bridge.lock(user_id):
        queued: list = []
        outcome = await bridge.run_as(user_id, first_name, update_id, Input.typed(text), queued=queued)
        await deliver_outcome(bridge, user_key(user_id), outcome, queued)  # None: a redelivered update


async def answer_query(query) -> None:
    """Stop the button's spinner.  A failed or too-old answer (after downtime) never aborts the press."""
    try:
        await query.answer()
    except TelegramError as exc:
        log.info("answerCallbackQuery failed (%s); the press is processed anyway", exc)


async def answer_query_id(bot, query_id: str) -> None:
    """`answer_query` from the query's id (what `CallbackQuery.answer()` sends, without the objects)."""
    try:
        await api_call(bot, "answerCallbackQuery", {"callback_query_id": query_id})
    except TelegramError as exc:
        log.info("answerCallbackQuery failed (%s); the press is processed anyway", exc)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bridge = bridge_of(context)
    query = update.callback_query
    user = update.effective_user
    async with bridge.lock(user.id):
        await answer_query(query)
        if query.message is None:  # a button on an inline message: no chat to answer in
            return
        await _pressed(bridge, user.id, user.first_name, update.update_id, query.data or "", query.message.message_id)


async def pressed(bridge: Bridge, user_id: int, first_name: str | None, update_id: int, query_id: str, data: str,
                  message_id: int) -> None:
    """A button of the conversation pressed under a message of the chat: the fast path of process_json."""
    async with bridge.lock(user_id):
        await answer_query_id(bridge.bot, query_id)
        await _pressed(bridge, user_id, first_name, update_id, data, message_id)


async def _pressed(bridge: Bridge, user_id: int, first_name: str | None, update_id: int, data: str,
                   message_id: int) -> None:
    queued: list = []
    outcome = await bridge.run_as(user_id, first_name, update_id, Input.pressed(data), edit_of=message_id,
                                  queued=queued)
    await deliver_outcome(bridge, user_key(user_id), outcome, queued)


async def on_staff(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bridge = bridge_of(context)
    query = update.callback_query
    key = user_key(update.effective_user.id)
    async with bridge.lock(update.effective_user.id):
        if query is not None:
            await answer_query(query)
            if query.message is None:
                return
        text = None if query else update.effective_message.text
        queued: list = []
        outcome = await bridge.run_staff(update, text, query.data if query else None,
                                         edit_of=query.message.message_id if query else None, queued=queued)
        await deliver_outcome(bridge, key, outcome, queued)
        for doc in (outcome.documents if outcome is not None else []):
            await _retrying(context.bot.send_document, update.effective_chat.id, document=doc.content,
                            filename=doc.filename)


async def _retrying(call, *args, attempts: int = 3, **kwargs):
    """A document asked for now (an export): a passing fault is retried a few times."""
    for attempt in range(attempts):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as exc:
            after = exc.retry_after
            await asyncio.sleep(after.total_seconds() if hasattr(after, "total_seconds") else float(after))
        except (TimedOut, NetworkError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message is never taken as the answer to the question being asked now: a kind note
    asks to send the new text as a new message.  Nothing of the edit is echoed or stored."""
    if update.effective_chat is None or update.effective_user is None:
        return
    bridge = bridge_of(context)
    key = user_key(update.effective_user.id)
    async with bridge.lock(update.effective_user.id):
        await bridge.tx(_queue_note, key=key, template="edited_note", update_id=update.update_id,
                        bot_id=bridge.bot_id)
        await bridge.flush(key)


def _queue_note(session, *, key: str, template: str, update_id: int | None, bot_id: int) -> None:
    from storage import repo

    if update_id is not None and not repo.first_time(session, update_id=update_id, user_key=key, bot_id=bot_id):
        return
    outbox.add(session, user_key=key, reply=Reply(template))


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat is not None:
        await send_direct(context.bot, update.effective_chat.id, [Reply("send_text_please")])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Always answer: sorry, then what the user is being asked now (so a resent answer is not taken
    for the next question's).  The update is marked failed: polling keeps it in the inbox to try
    again, the webhook answers 500 so Telegram redelivers it."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    bridge = bridge_of(context)
    bridge.failed.add(update.update_id)
    if update.effective_chat is None or update.effective_user is None:
        return
    key = user_key(update.effective_user.id)
    try:
        await bridge.tx(_queue_note, key=key, template="error", update_id=None, bot_id=bridge.bot_id)
        await bridge.run(update, Input.pressed("resume"), update_id=None)
        await bridge.flush(key)
        return
    except Exception:  # noqa: BLE001 - the error handler must never raise
        log.exception("could not queue the apology after an error")
    try:
        await send_direct(context.bot, update.effective_chat.id, [Reply("error")])
    except Exception:  # noqa: BLE001
        log.exception("could not tell the user about the error")


class UnreadableUpdate(ValueError):
    """An update python-telegram-bot cannot read (`TongzhuApplication.process_json`)."""


class TongzhuApplication(Application):
    """python-telegram-bot's Application, telling whether an update was processed: the inbox row
    of a polled update is deleted only then, and the webhook answers 200 only then."""

    async def _process(self, update: object) -> tuple[bool, bool]:
        """→ (processed without error, committed by handle)."""
        bridge: Bridge = self.bot_data["bridge"]
        update_id = getattr(update, "update_id", None)
        bridge.failed.discard(update_id)
        bridge.settled.discard(update_id)
        await super().process_update(update)
        ok, settled = update_id not in bridge.failed, update_id in bridge.settled
        bridge.failed.discard(update_id)
        bridge.settled.discard(update_id)
        return ok, settled

    async def shutdown(self) -> None:
        await super().shutdown()
        bridge: Bridge | None = self.bot_data.get("bridge")
        if bridge is not None and bridge.held is not None:  # the database threads' kept connections
            bridge.held.close_all()

    async def process_update_ok(self, update: object) -> bool:
        return (await self._process(update))[0]

    async def process_json(self, data: dict[str, Any]) -> bool:
        """An update as Telegram sends it (the webhook's body) → processed without error.

        The two kinds nearly every update is — a typed message that is not a command, and a press
        of a conversation button under a message — go straight to the handler's own function
        (`typed`, `pressed`) from the fields they need: python-telegram-bot's parsing of the whole
        update into objects (the message a button sits under comes with its keyboard) was the
        biggest part of the event loop's work per update (issue 15).  They are exactly the updates
        `wire`'s handlers would give to on_text and on_button: the fields are checked as strictly
        as parsing them would; anything else (commands, edits, staff buttons, photos, anything
        unusual) is parsed and processed as before (UnreadableUpdate when it cannot be).  An error is handed to the application's error
        handler with the parsed update, as process_update does; polling (the inbox) takes the
        ordinary path."""
        bridge: Bridge | None = self.bot_data.get("bridge")
        fast = _plain_update(data) if bridge is not None and not bridge.use_inbox else None
        if fast is None:
            try:
                update = Update.de_json(data, self.bot)
            except Exception as exc:  # noqa: BLE001 - not a Telegram update
                raise UnreadableUpdate(str(exc)[:200]) from exc
            return await self.process_update_ok(update)
        update_id = data["update_id"]
        bridge.failed.discard(update_id)
        bridge.settled.discard(update_id)
        try:
            if fast[0] == "text":
                await typed(bridge, *fast[1:])
            else:
                await pressed(bridge, *fast[1:])
        except Exception as exc:  # noqa: BLE001 - as process_update: the error handler answers the user
            await self.process_error(update=Update.de_json(data, self.bot), error=exc)
        ok = update_id not in bridge.failed
        bridge.failed.discard(update_id)
        bridge.settled.discard(update_id)
        return ok

    async def process_update(self, update: object) -> None:
        bridge: Bridge | None = self.bot_data.get("bridge")
        if bridge is None or not bridge.use_inbox or not isinstance(update, Update):
            await self._process(update) if bridge is not None else await super().process_update(update)
            return
        ok = settled = False
        try:
            ok, settled = await self._process(update)
        finally:
            try:
                if ok and not settled:
                    await bridge.tx(inbox.done, bot_id=bridge.bot_id, update_id=update.update_id)
                elif not ok:
                    await bridge.tx(inbox.failed, bot_id=bridge.bot_id, update_id=update.update_id)
            except Exception:  # noqa: BLE001 - the row stays; it is processed again (and deduplicated)
                log.exception("could not update the inbox for update %s", update.update_id)
            bridge.inflight.discard(update.update_id)  # only now: the inbox loop must not take it again


def _user(data: Any) -> tuple[int, str] | None:
    """A Telegram User's id and first name, when it is one (what User.de_json requires)."""
    if type(data) is not dict:
        return None
    user_id, first, is_bot = data.get("id"), data.get("first_name"), data.get("is_bot")
    if type(user_id) is not int or type(first) is not str or type(is_bot) is not bool:
        return None
    return user_id, first


def _message_ok(message: Any) -> bool:
    """The fields Message.de_json requires, of the right types."""
    if type(message) is not dict:
        return False
    chat = message.get("chat")
    return (type(message.get("message_id")) is int and type(message.get("date")) is int and type(chat) is dict
            and type(chat.get("id")) is int and type(chat.get("type")) is str)


def _plain_update(data: dict[str, Any]) -> tuple | None:
    """("text", user id, first name, update id, text) for a typed message that is not a command;
    ("press", user id, first name, update id, query id, data, message id) for a conversation button
    (not a staff one, "s:") under a message; None for anything else (parsed and dispatched by
    python-telegram-bot).  Which handler of `wire` takes an update depends on these fields only."""
    update_id = data.get("update_id")
    if len(data) != 2 or type(update_id) is not int:
        return None
    message = data.get("message")
    if message is not None:
        text = message.get("text") if type(message) is dict else None
        user = _user(message.get("from")) if type(text) is str else None
        entities = message.get("entities", []) if user is not None else None
        if (user is None or not text or text.startswith("/") or not _message_ok(message)
                or type(entities) is not list
                or any(type(e) is not dict or e.get("type") == "bot_command" for e in entities)):
            return None
        return ("text", user[0], user[1], update_id, text)
    query = data.get("callback_query")
    if type(query) is not dict:
        return None
    user, query_id, action = _user(query.get("from")), query.get("id"), query.get("data")
    under = query.get("message")
    if (user is None or type(query_id) is not str or type(action) is not str or action.startswith("s:")
            or type(query.get("chat_instance")) is not str or not _message_ok(under)):
        return None
    return ("press", user[0], user[1], update_id, query_id, action, under["message_id"])


class InboxRequest(BaseRequest):
    """The getUpdates transport of a polling application: each batch of updates Telegram returns
    is written to the inbox (one transaction, the raw JSON) before python-telegram-bot sees it.
    The Updater confirms an offset only with its NEXT getUpdates, so an update is never confirmed
    before it is stored.  While the database is away, the batch is stored again and again."""

    def __init__(self, inner: BaseRequest):
        self.inner = inner
        self.bridge: Bridge | None = None

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, url: str, method: str, request_data=None, read_timeout=None, write_timeout=None,
                         connect_timeout=None, pool_timeout=None) -> tuple[int, bytes]:
        code, payload = await self.inner.do_request(url, method, request_data=request_data,
                                                    read_timeout=read_timeout, write_timeout=write_timeout,
                                                    connect_timeout=connect_timeout, pool_timeout=pool_timeout)
        bridge = self.bridge
        if bridge is None or not bridge.use_inbox or code != 200 or not url.endswith("/getUpdates"):
            return code, payload
        try:
            updates = json.loads(payload).get("result") or []
        except ValueError:
            return code, payload
        updates = [u for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        while updates:
            try:
                await bridge.tx(inbox.store, bot_id=bridge.bot_id, updates=updates)
                break
            except Exception:  # noqa: BLE001
                log.exception("could not store %d update(s) in the inbox; trying again", len(updates))
                await asyncio.sleep(1.0)
        return code, payload


class InboxQueue(asyncio.Queue):
    """The update queue of a polling application: an update already queued from the inbox (at
    start, or a retry) is not queued twice."""

    bridge: Bridge | None = None

    async def put(self, item: Any) -> None:
        bridge = self.bridge
        if bridge is not None and bridge.use_inbox and isinstance(item, Update):
            if item.update_id in bridge.inflight:
                return  # already queued from the inbox
            bridge.inflight.add(item.update_id)
        await super().put(item)

    async def requeue(self, update: Update) -> None:
        await super().put(update)


async def inbox_loop(application: Application) -> None:
    """Process what is left in the inbox: at start (a crash after the fetch), and updates whose
    processing failed, after their wait."""
    bridge: Bridge = application.bot_data["bridge"]
    queue: InboxQueue = application.update_queue  # type: ignore[assignment]
    while True:
        try:
            for update_id, data in await bridge.tx(inbox.due, bot_id=bridge.bot_id):
                if update_id in bridge.inflight:
                    continue
                bridge.inflight.add(update_id)
                await queue.requeue(Update.de_json(data, application.bot))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("inbox check failed; trying again shortly")
        await asyncio.sleep(2.0)


async def post_init(application: Application) -> None:
    bridge: Bridge = application.bot_data["bridge"]
    try:
        await application.bot.set_my_commands([BotCommand(c, d) for c, d in words("commands").items()])
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
    # build the free-text index (a few seconds) now, not on the first family's message
    application.bot_data["warm_task"] = asyncio.create_task(asyncio.to_thread(get_index))
    if bridge.engine is not None:
        application.bot_data["sender_task"] = asyncio.create_task(sender_loop(bridge))
        if bridge.use_inbox:
            application.bot_data["inbox_task"] = asyncio.create_task(inbox_loop(application))
    if application.bot_data.get("maintenance", True):
        application.bot_data["maintenance_task"] = asyncio.create_task(maintenance_loop(bridge.engine))


async def post_shutdown(application: Application) -> None:
    stop_tasks(application)
    bridge: Bridge | None = application.bot_data.get("bridge")
    if bridge is not None and bridge.delivered:  # SQLite: what was delivered is recorded before the end
        try:
            await bridge._db(bridge.drain)
        except Exception:  # noqa: BLE001 - they are sent once more after the restart, at most
            log.exception("could not record the messages delivered last")
    if bridge is not None and bridge.held is not None:  # the database threads' kept connections
        bridge.held.close_all()


def stop_tasks(application: Application) -> None:
    for name in ("maintenance_task", "warm_task", "sender_task", "inbox_task"):
        task = application.bot_data.pop(name, None)
        if task is not None:
            task.cancel()


def wire(application: Application, engine: Engine, *, bot_id: int = 0) -> Application:
    bridge = application.bot_data["bridge"] = Bridge(engine, bot_id=bot_id)
    bridge.bot = application.bot
    if isinstance(application.update_queue, InboxQueue):
        application.update_queue.bridge = bridge
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, on_edited), group=0)
    application.add_handler(CommandHandler(staff.COMMANDS, on_staff), group=0)
    application.add_handler(CallbackQueryHandler(on_staff, pattern=r"^s:"), group=0)
    application.add_handler(CommandHandler(FAMILY_COMMANDS, on_text), group=0)
    application.add_handler(CallbackQueryHandler(on_button), group=0)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text), group=0)
    application.add_handler(MessageHandler(filters.COMMAND, on_text), group=0)  # unknown commands: kind word
    application.add_handler(MessageHandler(~filters.TEXT, on_other), group=0)
    application.add_error_handler(on_error)
    return application


def build_application(*, token: str, engine: Engine, base_url: str | None = None,
                      request: BaseRequest | None = None, get_updates_request: BaseRequest | None = None,
                      rate_limit: bool = False, webhook: bool = False, maintenance: bool = True,
                      polling: bool = False) -> Application:
    """The application for the webhook, the tests and the benchmark; `polling=True` for long
    polling through the inbox (run_polling)."""
    builder = (ApplicationBuilder().application_class(TongzhuApplication).token(token)
               .post_init(post_init).post_shutdown(post_shutdown))
    if polling:
        builder = builder.update_queue(InboxQueue())
    if base_url:
        builder = builder.base_url(base_url)  # like https://api.telegram.org/bot: PTB appends the token
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    else:  # a small pool: httpcore scans every pooled connection on each request
        trust_env = not get_settings().tongzhu_no_proxy_env
        builder = builder.request(HTTPXRequest(connection_pool_size=32, pool_timeout=10,
                                               read_timeout=get_settings().telegram_read_timeout,
                                               httpx_kwargs={"trust_env": trust_env}))
        updates_request = HTTPXRequest(httpx_kwargs={"trust_env": trust_env})
        builder = builder.get_updates_request(InboxRequest(updates_request) if polling else updates_request)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter())
    if webhook:
        builder = builder.updater(None)
    builder = builder.concurrent_updates(True)
    application = builder.build()
    application.bot_data["maintenance"] = maintenance
    bridge = wire(application, engine, bot_id=bot_id_of(token)).bot_data["bridge"]
    bridge.use_inbox = polling and engine is not None
    updates_request = getattr(application.updater.bot, "_request", [None, None])[0] if application.updater else None
    if isinstance(updates_request, InboxRequest):
        updates_request.bridge = bridge
    return application


def run_polling() -> int:
    from storage.crypto import key_problem
    from storage.db import make_engine

    problem = key_problem()
    if problem:
        print(f"童助 will not start: {problem}")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    engine = make_engine()
    with Session(engine) as session, session.begin():  # one poller per bot: leases of a killed one go
        outbox.release_all(session, channel="tg")
    application = build_application(token=settings.telegram_bot_token, engine=engine,
                                    base_url=settings.telegram_api_base_url,
                                    rate_limit=not settings.telegram_api_base_url, polling=True)
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    return 0
