"""The Telegram adapter: python-telegram-bot carries updates in and messages out; nothing else.

Every update goes to `conversation.session.handle` (or the staff desk, casework/staff.py), which runs
in one database transaction: the state is read and written there, never kept in this process.  The
handlers are wired explicitly, in order, as in python-telegram-bot's rules-bot:

    0. staff commands and staff buttons (/queue, /case, "s:" buttons) — checked on the server
    1. the family's commands (/start /help /status /restart /cancel /forget /ask)
    2. buttons of the conversation
    3. typed text
    4. anything else (a photo, a sticker): a kind word on what to send instead
    and an error handler that always answers the user.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from telegram import (BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler,
                          ContextTypes, MessageHandler, filters)
from telegram.request import BaseRequest, HTTPXRequest

from casework import staff
from settings import get_settings
from casework.jobs import maintenance_loop
from casework.service import CaseService
from conversation.model import Input, Notice, Reply
from conversation.session import handle
from freetext.matcher import get_index
from storage.db import is_sqlite
from templates import render_reply, split_message, words

log = logging.getLogger("tongzhu.telegram")

FAMILY_COMMANDS = ["start", "help", "status", "restart", "cancel", "forget", "ask"]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row]
                                 for row in reply.buttons])


def user_key(telegram_id: int) -> str:
    return f"tg:{telegram_id}"


def chat_of(key: str) -> int | None:
    return int(key[3:]) if key.startswith("tg:") and key[3:].lstrip("-").isdigit() else None


class Bridge:
    """What the handlers share: the database engine, the services, one lock per chat, and where the
    database work runs (a single thread for SQLite: one writer anyway, and no thread ever sleeps in
    SQLite's busy handler; the default pool for PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.services = CaseService(engine=engine)
        self.locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.executor = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
                         if engine is not None and is_sqlite(engine) else None)

    def lock(self, chat_id: int) -> asyncio.Lock:
        """One chat's updates one at a time, in the order they came (taken before any await).
        The lock lives as long as someone holds or waits for it."""
        lock = self.locks.get(chat_id)
        if lock is None:
            lock = self.locks[chat_id] = asyncio.Lock()
        return lock

    async def _db(self, fn, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, **kwargs))

    async def run(self, update: Update, inp: Input, *, update_id: int | None = -1):
        user = update.effective_user
        return await self._db(handle, engine=self.engine, services=self.services, user_key=user_key(user.id),
                              inp=inp, update_id=update.update_id if update_id == -1 else update_id,
                              telegram_id=user.id, display_name=user.first_name)

    async def run_staff(self, update: Update, text: str | None, action: str | None):
        user = update.effective_user
        return await self._db(staff.handle, engine=self.engine, user_key=user_key(user.id), text=text,
                              action=action, update_id=update.update_id, telegram_id=user.id)


async def send(bot, chat_id: int, replies: list[Reply], *, edit_message=None) -> None:
    """Render and send replies: long ones split under 4096 characters, buttons on the last part.
    A reply marked `edit` replaces the message whose button was pressed."""
    for reply in replies:
        parts = split_message(render_reply(reply, html=True))
        markup = keyboard(reply)
        if reply.edit and edit_message is not None and len(parts) == 1:
            try:
                await edit_message.edit_text(parts[0], parse_mode=ParseMode.HTML, reply_markup=markup)
                continue
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    continue
                log.info("edit failed (%s): sending a new message", exc)
        for i, part in enumerate(parts):
            await _retrying(bot.send_message, chat_id, part, parse_mode=ParseMode.HTML,
                            reply_markup=markup if i == len(parts) - 1 else None)


async def _retrying(call, *args, attempts: int = 3, **kwargs):
    """The answer is already committed: a passing network fault must not lose it."""
    for attempt in range(attempts):
        try:
            return await call(*args, **kwargs)
        except RetryAfter as exc:
            await asyncio.sleep(float(getattr(exc.retry_after, "total_seconds", lambda: exc.retry_after)()))
        except (TimedOut, NetworkError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))


async def notify(bot, notices: list[Notice]) -> None:
    for notice in notices:
        chat_id = chat_of(notice.user_key)
        if chat_id is None:
            continue  # a console user: nothing to push to
        try:
            await send(bot, chat_id, [notice.reply])
        except Forbidden:
            log.warning("could not notify %s: the user blocked the bot", notice.user_key)


def bridge_of(context: ContextTypes.DEFAULT_TYPE) -> Bridge:
    return context.application.bot_data["bridge"]


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bridge = bridge_of(context)
    async with bridge.lock(update.effective_user.id):
        outcome = await bridge.run(update, Input.typed(update.effective_message.text or ""))
        if outcome is None:
            return  # a redelivered update, already answered
        await send(context.bot, update.effective_chat.id, outcome.replies)
    await notify(context.bot, outcome.notices)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bridge = bridge_of(context)
    query = update.callback_query
    async with bridge.lock(update.effective_user.id):
        await query.answer()
        outcome = await bridge.run(update, Input.pressed(query.data or ""))
        if outcome is None:
            return
        await send(context.bot, update.effective_chat.id, outcome.replies, edit_message=query.message)
    await notify(context.bot, outcome.notices)


async def on_staff(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bridge = bridge_of(context)
    query = update.callback_query
    async with bridge.lock(update.effective_user.id):
        if query is not None:
            await query.answer()
        text = None if query else update.effective_message.text
        outcome = await bridge.run_staff(update, text, query.data if query else None)
        if outcome is None:
            return
        await send(context.bot, update.effective_chat.id, outcome.replies,
                   edit_message=query.message if query else None)
        for doc in outcome.documents:
            await _retrying(context.bot.send_document, update.effective_chat.id, document=doc.content,
                            filename=doc.filename)
    await notify(context.bot, outcome.notices)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_chat is not None:
        await send(context.bot, update.effective_chat.id, [Reply("send_text_please")])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Always answer: sorry, then what the user is being asked now (so a resent answer is not taken
    for the next question's)."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    replies = [Reply("error")]
    try:
        if update.effective_user is not None:
            outcome = await bridge_of(context).run(update, Input.pressed("resume"), update_id=None)
            replies += outcome.replies if outcome else []
    except Exception:  # noqa: BLE001 - the error handler must never raise
        log.exception("could not read the conversation after an error")
    try:
        await send(context.bot, update.effective_chat.id, replies)
    except Exception:  # noqa: BLE001
        log.exception("could not tell the user about the error")


async def post_init(application: Application) -> None:
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in words("commands").items()])
    # build the free-text index (a few seconds) now, not on the first family's message
    application.bot_data["warm_task"] = asyncio.create_task(asyncio.to_thread(get_index))
    if application.bot_data.get("maintenance", True):
        application.bot_data["maintenance_task"] = asyncio.create_task(
            maintenance_loop(application.bot_data["bridge"].engine))


async def post_shutdown(application: Application) -> None:
    for name in ("maintenance_task", "warm_task"):
        task = application.bot_data.get(name)
        if task is not None:
            task.cancel()


def wire(application: Application, engine: Engine) -> Application:
    application.bot_data["bridge"] = Bridge(engine)
    application.add_handler(CommandHandler(staff.COMMANDS, on_staff), group=0)
    application.add_handler(CallbackQueryHandler(on_staff, pattern=r"^s:"), group=0)
    application.add_handler(CommandHandler(FAMILY_COMMANDS, on_text), group=0)
    application.add_handler(CallbackQueryHandler(on_button), group=0)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text), group=0)
    application.add_handler(MessageHandler(filters.COMMAND, on_text), group=0)  # unknown commands: kind word
    application.add_handler(MessageHandler(~filters.TEXT & ~filters.UpdateType.EDITED, on_other), group=0)
    application.add_error_handler(on_error)
    return application


def build_application(*, token: str, engine: Engine, base_url: str | None = None,
                      request: BaseRequest | None = None, get_updates_request: BaseRequest | None = None,
                      rate_limit: bool = False, webhook: bool = False, maintenance: bool = True) -> Application:
    builder = ApplicationBuilder().token(token).post_init(post_init).post_shutdown(post_shutdown)
    if base_url:
        builder = builder.base_url(base_url)  # like https://api.telegram.org/bot: PTB appends the token
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    else:  # a small pool: httpcore scans every pooled connection on each request
        trust_env = not get_settings().tongzhu_no_proxy_env
        builder = builder.request(HTTPXRequest(connection_pool_size=32, pool_timeout=10,
                                               httpx_kwargs={"trust_env": trust_env}))
        builder = builder.get_updates_request(HTTPXRequest(httpx_kwargs={"trust_env": trust_env}))
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter())
    if webhook:
        builder = builder.updater(None)
    builder = builder.concurrent_updates(True)
    application = builder.build()
    application.bot_data["maintenance"] = maintenance
    return wire(application, engine)


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
    application = build_application(token=settings.telegram_bot_token, engine=make_engine(),
                                     base_url=settings.telegram_api_base_url,
                                     rate_limit=not settings.telegram_api_base_url)
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    return 0
