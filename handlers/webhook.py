"""Webhook mode: `python bot.py --webhook [--workers N]` serves Telegram updates over HTTP.

An ASGI app (Starlette under uvicorn), as in python-telegram-bot's custom-webhook examples: the
application is built with `.updater(None)`; each POST /telegram is checked against the
X-Telegram-Bot-Api-Secret-Token header and processed before the answer: 200 only once it was
processed (its replies are then safe in the outbox), 500 when processing failed, so Telegram
redelivers it (and a redelivered one is recognised by the bot's id and its update_id).  A body over
1 MB gets 413, anything but a JSON object with an update_id gets 400.  Several workers need PostgreSQL: one chat's updates are serialised across them by an
advisory lock (storage/db.py), and the maintenance job runs in one worker at a time (casework/jobs.py).

Environment: TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET (required), TELEGRAM_WEBHOOK_URL (the
public URL; when set, setWebhook is called once at start), TELEGRAM_API_BASE_URL, DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

from settings import get_settings
from handlers.serving import configure_logging, start_problem
from handlers.telegram_app import UnreadableUpdate, build_application, post_init, stop_tasks

log = logging.getLogger("tongzhu.webhook")
PATH = "/telegram"


MAX_BODY = 1_000_000  # Telegram's updates are a few kilobytes


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_update(body: bytes) -> dict | None:
    """A JSON object with an integer update_id, or None (bad encoding, nesting, type)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int) or isinstance(
            data.get("update_id"), bool):
        return None
    return data


def create_app() -> Starlette:
    from storage.db import make_engine

    configure_logging()
    settings = get_settings()
    secret = settings.telegram_webhook_secret or ""
    application = build_application(token=settings.telegram_bot_token, engine=make_engine(),
                                    base_url=settings.telegram_api_base_url, webhook=True,
                                    rate_limit=not settings.telegram_api_base_url)

    async def telegram(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given, secret):
            return PlainTextResponse("forbidden", status_code=403)
        body = await read_capped(request)
        if body is None:
            return PlainTextResponse("too large", status_code=413)
        data = parse_update(body)
        if data is None:
            return PlainTextResponse("bad request: a JSON object with an update_id is expected", status_code=400)
        try:  # a typed message or a button: straight to its handler (TongzhuApplication.process_json)
            ok = await application.process_json(data)
        except UnreadableUpdate:  # a malformed update is the sender's fault, not ours
            log.warning("an update that python-telegram-bot cannot read was refused")
            return PlainTextResponse("bad request: not a Telegram update", status_code=400)
        if not ok:
            return PlainTextResponse("processing failed; send it again", status_code=500)
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True, "pid": os.getpid()})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        async with application:
            await application.start()
            await post_init(application)
            yield
            stop_tasks(application)
            await application.stop()

    return Starlette(routes=[Route(PATH, telegram, methods=["POST"]), Route("/healthz", health)],
                     lifespan=lifespan)


def run_webhook(*, workers: int = 1, port: int = 8080, host: str = "127.0.0.1") -> int:
    import uvicorn

    from storage.db import make_engine

    settings = get_settings()
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        if not getattr(settings, name.lower()):
            print(f"童助 webhook will not start: {name} is not set")
            return 2
    problem = start_problem(workers=workers)
    if problem:
        print(f"童助 webhook will not start: {problem}")
        return 2
    engine = make_engine()  # migrate once, before the workers start
    from sqlmodel import Session

    from storage import outbox
    with Session(engine) as session, session.begin():  # one webhook server per database: the leases
        outbox.release_all(session, channel="tg")       # of workers killed before this start go now
    engine.dispose()
    url = settings.telegram_webhook_url
    if url:
        asyncio.run(_set_webhook(url))
    configure_logging()
    uvicorn.run("handlers.webhook:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info", timeout_graceful_shutdown=10)
    return 0


async def _set_webhook(url: str) -> None:
    application = build_application(token=get_settings().telegram_bot_token, engine=None,
                                    base_url=get_settings().telegram_api_base_url, webhook=True,
                                    maintenance=False)
    async with application:
        await application.bot.set_webhook(url + PATH, secret_token=get_settings().telegram_webhook_secret,
                                          allowed_updates=Update.ALL_TYPES)
