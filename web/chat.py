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
    GET  /news      htmx asks every 30 s while the page is open: notices that came meanwhile

The web chat is a pulling channel of the outbox (storage/outbox.py): `handle` queues the replies and
notices in the same transaction as the state; the chat takes the family's pending messages and marks
them shown.  With htmx a post answers with them at once; without JavaScript a post redirects to GET /
(post/redirect/get: a reload never posts twice), which shows them.  Notices (a status change, the
office's 一次性告知 of documents) wait there until the next visit, shown first with an unread count.

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
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from casework.service import CaseService
from conversation.model import Input, Reply
from conversation.session import handle
from settings import get_settings
from storage import outbox
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

    # ------------------------------------------------------------ the engine and the outbox
    def _take(self, *, user_key: str) -> list[outbox.Item]:
        from sqlmodel import Session

        with Session(self.engine) as session, session.begin():
            return outbox.take(session, user_key=user_key)

    async def pull(self, user_key: str) -> dict[str, list[dict[str, Any]]]:
        """What waits for this family in the outbox (replies and notices), now marked shown."""
        items = await self.db(self._take, user_key=user_key)
        return {"replies": [reply_view(i.reply) for i in items if i.kind != "notice"],
                "notices": [reply_view(i.reply) for i in items if i.kind == "notice"]}

    async def step(self, user_key: str, inp: Input, *, pull: bool = True) -> tuple[dict[str, list] | None, bool]:
        """One input through the engine, which queues the replies in the outbox; with `pull` they are
        taken from there at once. → (what to show, whether the engine succeeded). An error still
        answers: sorry, then the current question."""
        try:
            await self.db(handle, engine=self.engine, services=self.services, user_key=user_key, inp=inp)
        except Exception:  # noqa: BLE001 - the family always gets an answer
            log.exception("error while handling a web message")
            try:
                await self.db(handle, engine=self.engine, services=self.services, user_key=user_key,
                              inp=Input.pressed("resume"))
            except Exception:  # noqa: BLE001
                log.exception("could not read the conversation after an error")
            got = await self.pull(user_key)
            got["replies"] = [reply_view(Reply("error"))] + got["replies"]
            return got, False
        return (await self.pull(user_key) if pull else None), True

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
        turn.setdefault("notices", [])
        turn["id"] = secrets.token_hex(4)
        context = {"csrf": csrf_token(request), "turn": turn, "draft": draft, "base": request.scope.get("root_path", ""),
                   "max_text": MAX_TEXT, "code": await self.code(request), "code_draft": code_draft,
                   "unread": len(turn["notices"])}
        if request.headers.get("hx-request") == "true":
            return HTMLResponse(render_html("web/_turn.html.j2", **context), status_code=status)
        return HTMLResponse(render_html("web/page.html.j2", **context), status_code=status,
                            headers={"Cache-Control": "no-store"})

    async def index(self, request: Request) -> Response:
        """The current screen: what waits in the outbox (the answer to the last post, notices), else
        what the family is being asked now."""
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
        said = request.session.pop("said", None)
        ref = request.query_params.get("ref", "").strip()
        if ref and REF.fullmatch(ref):
            got, _ = await self.step(user_key, Input.typed(f"/start {ref}"))
        else:
            got = await self.pull(user_key)
            if not got["replies"]:  # a reload, a new visit, or only notices: show where she is
                said = None
                more = await self._current(request)
                got["replies"] = more["replies"]
                got["notices"] += more["notices"]
        return await self.render(request, turn={"said": said, **got}, notice=notice)

    async def news(self, request: Request) -> Response:
        """htmx asks now and then while the page is open: notices that came meanwhile, else nothing."""
        user_key = self.user_key(request, create=False)
        if user_key is None or not self.per_ip.allow(client_ip(request)):
            return Response(status_code=204)
        got = await self.pull(user_key)
        if not got["replies"] and not got["notices"]:
            return Response(status_code=204)
        return await self.render(request, turn={"said": None, **got})

    async def _guarded(self, request: Request) -> tuple[Any, str, Response | None]:
        """The posted form and the user key, or the response refusing the post (CSRF, rate limits).
        A refusal keeps what the family typed in the box."""
        form = await request.form()
        draft = str(form.get("text") or "")[:MAX_TEXT * 2]
        if not csrf_ok(request, form):
            got = await self._current(request)
            return form, "", await self.render(request, turn={"said": None, **got}, status=403, draft=draft,
                                               notice="csrf")
        user_key = self.user_key(request)
        if not self.per_ip.allow(client_ip(request)) or not self.per_session.allow(user_key):
            return form, user_key, await self.render(request, turn=None, status=429, draft=draft, notice="slow_down")
        return form, user_key, None

    async def _current(self, request: Request) -> dict[str, list]:
        """What the family is being asked now (a new family: the welcome)."""
        user_key = self.user_key(request)
        first = not await self.db(self._has_state, user_key=user_key)
        got, _ = await self.step(user_key, Input.typed("/start") if first else Input.pressed("resume"))
        return got

    async def _answer(self, request: Request, user_key: str, inp: Input, said: str | None) -> Response:
        """htmx: the new turn at once. Without JavaScript: post, redirect, get (a reload never posts
        twice); the answer waits in the outbox for the GET."""
        if request.headers.get("hx-request") == "true":
            got, _ = await self.step(user_key, inp)
            return await self.render(request, turn={"said": said, **got})
        got, ok = await self.step(user_key, inp, pull=False)
        if not ok:
            return await self.render(request, turn={"said": said, **got})
        if said:
            request.session["said"] = said[:MAX_TEXT]
        return RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)

    async def say(self, request: Request) -> Response:
        form, user_key, refused = await self._guarded(request)
        if refused:
            return refused
        text = str(form.get("text") or "").strip()
        if not text:
            return await self.render(request, turn={"said": None, **await self._current(request)}, notice="empty")
        if len(text) > MAX_TEXT:
            return await self.render(request, turn={"said": None, **await self._current(request)}, status=422,
                                     draft=text, notice="too_long")
        return await self._answer(request, user_key, Input.typed(text), text)

    async def tap(self, request: Request) -> Response:
        form, user_key, refused = await self._guarded(request)
        if refused:
            return refused
        action, _, label = str(form.get("action") or "").partition("|")
        if not action or len(action) > 64:
            action, label = "resume", ""
        return await self._answer(request, user_key, Input.pressed(action), label[:200] or None)

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
            return await self.render(request, turn={"said": None, **await self._current(request)},
                                     status=429, notice="slow_down", code_draft=typed)
        owner = await self.db(self._owner, code=typed)
        if owner is None:
            return await self.render(request, turn={"said": None, **await self._current(request)},
                                     notice="code_unknown", code_draft=typed)
        request.session["uid"] = owner
        got, _ = await self.step(owner, Input.pressed("resume"))
        return await self.render(request, turn={"said": None, **got}, notice="resumed")


def create_chat_app(*, engine: Engine) -> Starlette:
    chat = Chat(engine)
    settings = get_settings()
    return Starlette(
        routes=[Route("/", chat.index, methods=["GET"]), Route("/news", chat.news, methods=["GET"]),
                Route("/say", chat.say, methods=["POST"]),
                Route("/tap", chat.tap, methods=["POST"]), Route("/resume", chat.resume, methods=["POST"])],
        middleware=[Middleware(SessionMiddleware, secret_key=subkey("web-session"), session_cookie="tz_chat",
                               max_age=SESSION_DAYS * 86400, same_site="lax", https_only=settings.production)])
