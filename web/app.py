"""The web app: `python bot.py web [--host H] [--port P] [--workers N]` serves it under uvicorn.

    /          the family web chat (web/chat.py)
    /static    htmx and the chat's style sheet (web/static/)
    /healthz   a readiness probe: {"ok": true, "pid": …}
    /wechat    the WeChat Official Account callback — wechat.app.create_wechat_app(engine=…), when present
    /desk      the office desk — desk.app.create_desk_app(engine=…), when present

`create_app()` is a uvicorn factory: each worker builds its own app and its own database engine (one
engine, handed to every sub-app). SQLite by default; several workers need PostgreSQL (DATABASE_URL).
Every request body is capped (TONGZHU_WEB_MAX_BODY) and every page gets the security headers of
web/security.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.serving import configure_logging, start_problem
from settings import get_settings
from web.security import SECURITY_HEADERS, BodyLimit

log = logging.getLogger("tongzhu.web")
STATIC = Path(__file__).resolve().parent / "static"

# (mount path, module, factory): sub-apps of other packages, mounted when their module imports
SUB_APPS = (("/wechat", "wechat.app", "create_wechat_app"), ("/desk", "desk.app", "create_desk_app"))


def _sub_app(module_name: str, factory: str, engine: Engine) -> ASGIApp | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # the package is not there (yet): not an error
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, factory)(engine=engine)


class SecurityHeaders:
    """ASGI middleware adding web/security.py's headers to every response that has none of its own."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.headers if k not in present]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(engine: Engine | None = None) -> Starlette:
    from casework.jobs import maintenance_loop
    from storage.db import make_engine
    from web.chat import create_chat_app

    configure_logging()
    settings = get_settings()
    engine = engine if engine is not None else make_engine()

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True, "pid": os.getpid()})

    routes: list[BaseRoute] = [Route("/healthz", health), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    mounted = []
    for path, module_name, factory in SUB_APPS:
        sub = _sub_app(module_name, factory, engine)
        if sub is not None:
            routes.append(Mount(path, app=sub))
            mounted.append(path)
    routes.append(Mount("", app=create_chat_app(engine=engine)))
    log.info("web app: family chat at /%s", "".join(f", {p}" for p in mounted))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        from freetext.matcher import get_index

        tasks = [asyncio.create_task(asyncio.to_thread(get_index)),  # the free-text index, before the first family
                 asyncio.create_task(maintenance_loop(engine))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(SecurityHeaders),
                                 Middleware(BodyLimit, max_bytes=settings.tongzhu_web_max_body)])


def run_web(*, host: str | None = None, port: int | None = None, workers: int = 1) -> int:
    import uvicorn

    from storage.db import make_engine
    from web.security import secret_problem

    settings = get_settings()
    problem = start_problem(workers=workers, extra=(secret_problem(),))
    if problem:
        print(f"童助 web will not start: {problem}")
        return 2
    make_engine()  # migrate once, before the workers start
    configure_logging()
    uvicorn.run("web.app:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                workers=workers, log_level="info", timeout_graceful_shutdown=10, proxy_headers=True)
    return 0
