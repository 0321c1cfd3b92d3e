"""The family web chat at `/`: the same conversation engine as Telegram, in a phone's browser.

Made for WeChat's built-in browser on a cheap phone: one column, text at least 16 px, buttons at
least 44 px high, the system's Chinese fonts.  Every button is a real <button> in a form that posts;
without JavaScript the page re-renders with the new turn, with JavaScript htmx posts the same form
and appends only the new turn (templates/web/).

    GET  /          the current screen: a new visitor gets the welcome, a returning one what they are
                    being asked now.  ?ref=CODE links the family to a volunteer (as /start CODE in
                    Telegram); ?openid=TOKEN (a signed WeChat openid, web.links) continues the
                    family's WeChat conversation here.
    POST /say       typed text → conversation.session.handle (stories, questions, danger words)
    POST /tap       a button → the same
    POST /resume    a resume code typed on another device → that family's conversation

Who is talking lives in Starlette's signed, HttpOnly session cookie: {"uid": user key, "csrf": token}.
Every post checks the CSRF token and the rate limits (per session and per IP); bodies are capped by
the app (web/app.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from casework.service import CaseService
from conversation.model import Input, Reply
from conversation.session import handle
from settings import get_settings
from storage.db import is_sqlite
from templates import TEMPLATES, render_html, render_reply
from web import resume
from web.links import OPENID_LINK_DAYS, OPENID_PURPOSE
from web.security import RateLimiter, client_ip, csrf_ok, csrf_token, subkey, unsign

log = logging.getLogger("tongzhu.web.chat")

MAX_TEXT = 500  # characters of one typed message
SESSION_DAYS = 90
USER_KEY = re.compile(r"(web|wx|tg|console):[A-Za-z0-9_\-.:@]{1,58}")
REF = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def reply_view(reply: Reply) -> dict[str, Any]:
    """A Reply as the page shows it: its HTML, its buttons, and the hotlines as tel: links.
    templates/web/reply/NAME.html.j2, where present, replaces text/NAME.txt.j2 on the web."""
    override = f"web/reply/{reply.template}.html.j2"
    hotlines = list(reply.context.get("hotlines") or [])
    if (TEMPLATES / override).exists():
        html, hotlines = render_html(override, **reply.context), []
    else:
        html = render_reply(reply, html=True)
    return {"template": reply.template, "html": Markup(html), "hotlines": hotlines,
            "rows": [[{"label": b.label, "action": b.action} for b in row] for row in reply.buttons]}


class Chat:
    def __init__(self, engine: Engine):
        settings = get_settings()
        self.engine = engine
        self.services = CaseService(engine=engine)
        # SQLite has one writer: one thread does the database work (no thread waits in its busy handler)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-sqlite") if is_sqlite(engine) else None
        self.per_session = RateLimiter(per_minute=settings.tongzhu_web_rate_session, burst=20)
        self.resume_attempts = RateLimiter(per_minute=2, burst=10)  # per IP: codes cannot be guessed
        self.per_ip = RateLimiter(per_minute=settings.tongzhu_web_rate_ip,
                                  burst=max(20, int(settings.tongzhu_web_rate_ip // 4)))

    async def db(self, fn, /, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, **kwargs))

    # ------------------------------------------------------------ the engine
    async def step(self, user_key: str, inp: Input) -> list[Reply]:
        """One input through the engine; an error still answers: sorry, then the current question."""
        try:
            outcome = await self.db(handle, engine=self.engine, services=self.services, user_key=user_key, inp=inp)
            return outcome.replies if outcome else []
        except Exception:  # noqa: BLE001 - the family always gets an answer
            log.exception("error while handling a web message")
            replies = [Reply("error")]
            try:
                outcome = await self.db(handle, engine=self.engine, services=self.services, user_key=user_key,
                                        inp=Input.pressed("resume"))
                replies += outcome.replies if outcome else []
            except Exception:  # noqa: BLE001
                log.exception("could not read the conversation after an error")
            return replies

    def _has_state(self, *, user_key: str) -> bool:
        from sqlmodel import Session

        from storage import repo

        with Session(self.engine) as session:
            return repo.load_state(session, user_key=user_key) is not None

    # ------------------------------------------------------------ who is talking
    @staticmethod
    def user_key(request: Request, *, create: bool = True) -> str | None:
        uid = request.session.get("uid")
        if isinstance(uid, str) and USER_KEY.fullmatch(uid):
            return uid
        if not create:
            return None
        uid = "web:" + secrets.token_urlsafe(12)
        request.session["uid"] = uid
        return uid

    # ------------------------------------------------------------ pages
    def _code(self, *, user_key: str) -> str:
        from sqlmodel import Session

        with Session(self.engine) as session, session.begin():
            return resume.code_for(session, user_key=user_key)

    async def code(self, request: Request) -> str | None:
        """The family's resume code (kept in the session cookie once made)."""
        user_key = self.user_key(request, create=False)
        if user_key is None:
            return None
        if request.session.get("code_of") != user_key or not request.session.get("code"):
            request.session["code"] = await self.db(self._code, user_key=user_key)
            request.session["code_of"] = user_key
        return resume.display(request.session["code"])

    async def render(self, request: Request, *, turn: dict[str, Any] | None, status: int = 200,
                     draft: str = "", notice: str | None = None, code_draft: str = "") -> Response:
        """The whole page (no JavaScript) or, for htmx, only the new turn."""
        turn = turn or {"said": None, "replies": []}
        turn.setdefault("notice", notice)
        turn["id"] = secrets.token_hex(4)
        context = {"csrf": csrf_token(request), "turn": turn, "draft": draft, "base": request.scope.get("root_path", ""),
                   "max_text": MAX_TEXT, "code": await self.code(request), "code_draft": code_draft,
                   "unread": 0}
        if request.headers.get("hx-request") == "true":
            return HTMLResponse(render_html("web/_turn.html.j2", **context), status_code=status)
        return HTMLResponse(render_html("web/page.html.j2", **context), status_code=status,
                            headers={"Cache-Control": "no-store"})

    async def index(self, request: Request) -> Response:
        if not self.per_ip.allow(client_ip(request)):
            return await self.render(request, turn=None, status=429, notice="slow_down")
        notice = None
        token = request.query_params.get("openid")
        if token:
            openid = unsign(token, purpose=OPENID_PURPOSE, max_age=OPENID_LINK_DAYS * 86400)
            if openid and re.fullmatch(r"[A-Za-z0-9_\-]{6,56}", openid):
                request.session["uid"] = "wx:" + openid
            else:
                notice = "link_expired"
        user_key = self.user_key(request)
        ref = request.query_params.get("ref", "").strip()
        if ref and REF.fullmatch(ref):
            inp = Input.typed(f"/start {ref}")
        elif await self.db(self._has_state, user_key=user_key):
            inp = Input.pressed("resume")
        else:
            inp = Input.typed("/start")
        replies = await self.step(user_key, inp)
        return await self.render(request, turn={"said": None, "replies": [reply_view(r) for r in replies]}, notice=notice)

    async def _guarded(self, request: Request) -> tuple[Any, str, Response | None]:
        """The posted form and the user key, or the response refusing the post (CSRF, rate limits).
        A refusal keeps what the family typed in the box."""
        form = await request.form()
        draft = str(form.get("text") or "")[:MAX_TEXT * 2]
        if not csrf_ok(request, form):
            replies = await self._current(request)
            return form, "", await self.render(request, turn={"said": None, "replies": replies}, status=403,
                                         draft=draft, notice="csrf")
        user_key = self.user_key(request)
        if not self.per_ip.allow(client_ip(request)) or not self.per_session.allow(user_key):
            return form, user_key, await self.render(request, turn=None, status=429, draft=draft, notice="slow_down")
        return form, user_key, None

    async def _current(self, request: Request) -> list[dict[str, Any]]:
        """What the family is being asked now (after a refused post: they still have buttons)."""
        user_key = self.user_key(request)
        if not await self.db(self._has_state, user_key=user_key):
            return [reply_view(r) for r in await self.step(user_key, Input.typed("/start"))]
        return [reply_view(r) for r in await self.step(user_key, Input.pressed("resume"))]

    async def say(self, request: Request) -> Response:
        form, user_key, refused = await self._guarded(request)
        if refused:
            return refused
        text = str(form.get("text") or "").strip()
        if not text:
            return await self.render(request, turn={"said": None, "replies": []}, notice="empty")
        if len(text) > MAX_TEXT:
            return await self.render(request, turn={"said": None, "replies": []}, status=422, draft=text, notice="too_long")
        replies = await self.step(user_key, Input.typed(text))
        return await self.render(request, turn={"said": text, "replies": [reply_view(r) for r in replies]})

    async def tap(self, request: Request) -> Response:
        form, user_key, refused = await self._guarded(request)
        if refused:
            return refused
        action, _, label = str(form.get("action") or "").partition("|")
        if not action or len(action) > 64:
            return await self.render(request, turn={"said": None, "replies": await self._current(request)})
        replies = await self.step(user_key, Input.pressed(action))
        return await self.render(request, turn={"said": label[:200] or None, "replies": [reply_view(r) for r in replies]})

    def _owner(self, *, code: str) -> str | None:
        from sqlmodel import Session

        with Session(self.engine) as session:
            return resume.user_key_for(session, code=code)

    async def resume(self, request: Request) -> Response:
        """A resume code typed here: this browser goes on with that family's conversation."""
        form, _, refused = await self._guarded(request)
        if refused:
            return refused
        typed = str(form.get("code") or "")[:32]
        if not self.resume_attempts.allow(client_ip(request)):
            return await self.render(request, turn={"said": None, "replies": await self._current(request)},
                                     status=429, notice="slow_down", code_draft=typed)
        owner = await self.db(self._owner, code=typed)
        if owner is None:
            return await self.render(request, turn={"said": None, "replies": await self._current(request)},
                                     notice="code_unknown", code_draft=typed)
        request.session["uid"] = owner
        replies = await self.step(owner, Input.pressed("resume"))
        return await self.render(request, turn={"said": None, "replies": [reply_view(r) for r in replies]},
                                 notice="resumed")


def create_chat_app(*, engine: Engine) -> Starlette:
    chat = Chat(engine)
    settings = get_settings()
    return Starlette(
        routes=[Route("/", chat.index, methods=["GET"]), Route("/say", chat.say, methods=["POST"]),
                Route("/tap", chat.tap, methods=["POST"]), Route("/resume", chat.resume, methods=["POST"])],
        middleware=[Middleware(SessionMiddleware, secret_key=subkey("web-session"), session_cookie="tz_chat",
                               max_age=SESSION_DAYS * 86400, same_site="lax", https_only=settings.production)])
