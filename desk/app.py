"""The office desk at /desk: a Starlette sub-app over the case service (casework/actions.py), the
web twin of the Telegram desk (casework/staff.py). Server-rendered Jinja2 (templates/desk/).

    create_desk_app(engine=ENGINE) -> Starlette      mounted at /desk by web/app.py

Every page runs in one database transaction, which also holds its audit rows: a refused request
is logged, not rolled back. Every POST carries the session's CSRF token; the login form a
double-submit token. Pages: the queue (/), a case (/case/REF) with its actions, print (/case/REF/print,
/case/REF/docx), the list as XLSX (/export.xlsx), the dashboard, accounts and the audit log (admins).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import clock
from casework import lifecycle
from casework.actions import CaseActions, NotAllowed, in_scope, scope_prefixes
from casework.record import describe_case
from casework.staff import REFUSAL_REASONS, departments_of
from desk import accounts, auth, queries
from desk.notify import queue_notices
from settings import get_settings
from storage import repo
from storage.db import reading
from storage.models import (CaseNote, Child, Family, PreApplication, Role, StaffSession, Status, StatusChange,
                            User)
from templates import TEMPLATES
from web.security import RateLimiter, client_ip, same_origin

log = logging.getLogger("tongzhu.desk")
MAX_BODY = 64 * 1024
STAFF = (Role.staff, Role.admin)
ROLE_WORDS = {Role.guardian: "家属", Role.volunteer: "志愿者", Role.staff: "工作人员", Role.admin: "管理员"}
ACTIONS = {"review": Status.reviewing, "documents": Status.needs_documents, "accept": Status.accepted,
           "refuse": Status.refused, "close": Status.closed}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)


_env.filters["local"] = clock.local
_env.globals["role_words"] = ROLE_WORDS


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    for key, default in (("user", None), ("nav", ""), ("csrf", "")):
        context.setdefault(key, default)
    html = _env.get_template(f"desk/{name}.html.j2").render(**context)
    return HTMLResponse(html, status_code=status_code)


@dataclasses.dataclass
class AfterCommit:
    """A page's response made after its transaction (the checks and the audit row) committed, in a
    reading session (storage/db.py `reading`): a long read, the XLSX of every case, that must not
    hold SQLite's write lock while it runs."""
    make: Callable[[Session], Response]


@dataclasses.dataclass
class Ctx:
    request: Request
    s: Session
    sess: StaffSession
    user: User
    form: FormData | None

    def page(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(name, status_code, user=self.user, csrf=self.sess.csrf, nav=name, **context)

    def refused(self, what: str, ref: str | None = None, why: str = "not allowed") -> HTMLResponse:
        repo.audit(self.s, user_key=self.user.user_key, action=what[:40], case_ref=ref, allowed=False, detail=why)
        return self.page("refused", 403, reference=ref)


def create_desk_app(*, engine: Engine) -> Starlette:
    per_minute = get_settings().desk_login_per_minute
    limiter = RateLimiter(per_minute=per_minute, burst=per_minute)  # sign-in attempts per address

    def db_call(fn: Callable[[Session], Response | AfterCommit]) -> Response:
        with Session(engine) as s, s.begin():
            response = fn(s)
        if isinstance(response, AfterCommit):
            with reading(engine) as s:
                return response.make(s)
        return response

    async def read_form(request: Request) -> FormData | Response:
        try:
            if int(request.headers.get("content-length") or 0) > MAX_BODY:
                return Response("too large", status_code=413)
        except ValueError:
            return Response("bad length", status_code=400)
        return await request.form(max_files=0, max_fields=300)

    def page(fn: Callable[[Ctx], Response], *, roles: tuple[Role, ...] = STAFF):
        """A signed-in page: session, stage, role and (for POST) CSRF checked before `fn` runs."""

        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                form = await read_form(request)
                if isinstance(form, Response):
                    return form

            def run(s: Session) -> Response:
                found = auth.load(s, request)
                if found is None:
                    if request.method == "GET":
                        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                        return RedirectResponse(f"/desk/login?{urlencode({'next': nxt})}", status_code=303)
                    return render("login_again", 401)
                sess, user = found
                if sess.stage != "ok":
                    return RedirectResponse("/desk/totp" if sess.stage == "totp" else "/desk/enrol", status_code=303)
                ctx = Ctx(request, s, sess, user, form)
                if form is not None and not (auth.same(form.get("csrf"), sess.csrf) and same_origin(request)):
                    return ctx.refused(f"post {request.url.path}"[:40], None, "missing or wrong CSRF token")
                if user.role not in roles:
                    return ctx.refused(f"page {request.url.path}"[:40], None, f"role {user.role.value}")
                return fn(ctx)

            return await run_in_threadpool(db_call, run)

        return endpoint

    # ------------------------------------------------------------ signing in

    def login_page(request: Request, status_code: int = 200, error: str = "") -> Response:
        token = request.cookies.get(auth.LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = render("login", status_code, csrf=token, error=error, next=request.query_params.get("next", ""),
                          user=None, nav="login")
        response.set_cookie(auth.LOGIN_COOKIE, token, path=auth.PATH, httponly=True, samesite="strict",
                            secure=get_settings().desk_cookie_secure, max_age=3600)
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page(request)
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        ip = client_ip(request)
        if not (auth.same(form.get("csrf"), request.cookies.get(auth.LOGIN_COOKIE)) and same_origin(request)):
            await run_in_threadpool(db_call, lambda s: repo.audit(s, user_key="desk:?", action="login", allowed=False,
                                                                  detail=f"missing or wrong CSRF token ip={ip}") or Response())
            return render("refused", 403, user=None, nav="login", reference=None, csrf="")
        username = str(form.get("username") or "").strip()[:60]
        password = str(form.get("password") or "")[:200]
        if not limiter.allow(f"ip:{ip}"):
            return login_page(request, 429, "too_many")

        def check(s: Session) -> Response:
            result = accounts.check_login(s, username=username, password=password, ip=ip)
            if not result.ok:
                return login_page(request, 401 if result.why != "locked" else 423, result.why)
            user = result.user
            auth.end(s, request)
            if accounts.needs_totp(user):
                stage = "totp" if user.totp_enabled else "enrol"
                repo.audit(s, user_key=user.user_key, action="login_password", detail=f"ip={ip} then {stage}")
            else:
                stage = "ok"
                accounts.signed_in(s, user=user, ip=ip)
            token, _ = auth.start(s, user=user, stage=stage, ip=ip)
            nxt = str(form.get("next") or "")
            target = {"totp": "/desk/totp", "enrol": "/desk/enrol"}.get(stage) or (
                nxt if nxt.startswith("/desk/") and "//" not in nxt else "/desk/")
            response = RedirectResponse(target, status_code=303)
            auth.set_cookie(response, token)
            return response

        return await run_in_threadpool(db_call, check)

    def half_signed_in(s: Session, request: Request, stage: str) -> tuple[StaffSession, User] | Response:
        found = auth.load(s, request)
        if found is None:
            return RedirectResponse("/desk/login", status_code=303)
        sess, user = found
        if sess.stage != stage and not (stage == "enrol" and sess.stage == "ok"):
            return RedirectResponse("/desk/", status_code=303)
        return sess, user

    async def totp(request: Request) -> Response:
        form = await read_form(request) if request.method == "POST" else None
        if isinstance(form, Response):
            return form
        ip = client_ip(request)

        def run(s: Session) -> Response:
            found = half_signed_in(s, request, "totp")
            if isinstance(found, Response):
                return found
            sess, user = found
            if form is None:
                return render("totp", user=None, nav="login", csrf=sess.csrf, error="")
            if not auth.same(form.get("csrf"), sess.csrf):
                return render("refused", 403, user=None, nav="login", reference=None, csrf="")
            if not limiter.allow(f"ip:{ip}"):
                return render("totp", 429, user=None, nav="login", csrf=sess.csrf, error="too_many")
            if not accounts.check_totp(s, user=user, code=str(form.get("code") or "")):
                if accounts.is_locked(user):
                    s.delete(sess)
                    return login_page(request, 423, "locked")
                return render("totp", 401, user=None, nav="login", csrf=sess.csrf, error="wrong")
            sess.stage = "ok"
            s.add(sess)
            accounts.signed_in(s, user=user, ip=ip)
            return RedirectResponse("/desk/", status_code=303)

        return await run_in_threadpool(db_call, run)

    async def enrol(request: Request) -> Response:
        """Set up TOTP: required for admins at their first sign-in; staff may, from 我的账户."""
        form = await read_form(request) if request.method == "POST" else None
        if isinstance(form, Response):
            return form
        ip = client_ip(request)

        def run(s: Session) -> Response:
            found = half_signed_in(s, request, "enrol")
            if isinstance(found, Response):
                return found
            sess, user = found
            if user.totp_enabled:
                return RedirectResponse("/desk/", status_code=303)
            if form is None or not form.get("secret"):
                secret = accounts.new_totp_secret()
                uri = accounts.provisioning_uri(user, secret)
                return render("enrol", user=user if sess.stage == "ok" else None, nav="account", csrf=sess.csrf,
                              secret=secret, qr=accounts.qr_svg(uri), error="")
            if not auth.same(form.get("csrf"), sess.csrf):
                return render("refused", 403, user=None, nav="login", reference=None, csrf="")
            secret = str(form.get("secret"))[:64]
            if not accounts.check_totp(s, user=user, code=str(form.get("code") or ""), secret=secret):
                return render("enrol", 401, user=user if sess.stage == "ok" else None, nav="account",
                              csrf=sess.csrf, secret=secret,
                              qr=accounts.qr_svg(accounts.provisioning_uri(user, secret)), error="wrong")
            accounts.enable_totp(s, user=user, secret=secret)
            if sess.stage != "ok":
                sess.stage = "ok"
                s.add(sess)
                accounts.signed_in(s, user=user, ip=ip)
            return RedirectResponse("/desk/?msg=totp_on", status_code=303)

        return await run_in_threadpool(db_call, run)

    async def logout(request: Request) -> Response:
        form = await read_form(request)
        if isinstance(form, Response):
            return form

        def run(s: Session) -> Response:
            found = auth.load(s, request)
            if found is not None and auth.same(form.get("csrf"), found[0].csrf):
                repo.audit(s, user_key=found[1].user_key, action="logout")
                s.delete(found[0])
            response = RedirectResponse("/desk/login", status_code=303)
            auth.clear_cookie(response)
            return response

        return await run_in_threadpool(db_call, run)

    # ------------------------------------------------------------ the queue

    def queue_page(ctx: Ctx) -> Response:
        f = queries.Filters.from_query(ctx.request.query_params)
        prefixes = scope_prefixes(ctx.user)
        rows, total = queries.queue(ctx.s, prefixes=prefixes, f=f)
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="queue", detail=f"{total} cases {f.query()}"[:500])
        template = "queue_rows" if ctx.request.headers.get("HX-Request") else "queue"
        return ctx.page(template, rows=rows, total=total, f=f, per_page=50,
                        statuses=[(s.name, s.value) for s in Status],
                        places=queries.place_choices(ctx.s, prefixes=prefixes),
                        categories=queries.category_choices(ctx.s, prefixes=prefixes),
                        export_query=urlencode({k: v for k, v in f.query().items() if k != "page"}),
                        page_query=lambda n: urlencode(f.query(page=n)), msg=ctx.request.query_params.get("msg", ""))

    # ------------------------------------------------------------ a case

    def find_case(ctx: Ctx, what: str) -> PreApplication | Response:
        ref = ctx.request.path_params["ref"].strip().upper()
        case = repo.case_by_ref(ctx.s, reference=ref)
        if case is None:
            repo.audit(ctx.s, user_key=ctx.user.user_key, action=what, case_ref=ref[:32], allowed=False,
                       detail="no such case")
            return ctx.page("not_found", 404, reference=ref[:32])
        if not in_scope(ctx.user, case):
            return ctx.refused(what, case.reference, "not staff of this case's place")
        return case

    def case_context(ctx: Ctx, case: PreApplication) -> dict[str, Any]:
        s = ctx.s
        family, child = s.get(Family, case.family_id), s.get(Child, case.child_id)
        result = json.loads(case.result_json or "{}")
        people = {u.id: u for u in s.exec(_users_of(case))}
        history = [{"at": h.at, "status": h.to_status.value, "from": h.from_status.value if h.from_status else "",
                    "reason": h.reason or "", "by": _who(people.get(h.by_id))} for h in repo.history_of(s, case=case)]
        notes = [{"at": n.created_at, "text": n.text, "by": _who(people.get(n.author_id))}
                 for n in repo.notes_of(s, case=case)]
        now = dt.datetime.now(dt.timezone.utc)
        return {"case": case, "family": family, "child": child, "result": result, "record": describe_case(case),
                "docs": repo.documents_of(s, case=case), "history": history, "notes": notes,
                "allowed": [t.name for t in lifecycle.TRANSITIONS[case.status]],
                "departments": departments_of(case), "reasons": REFUSAL_REASONS,
                "overdue": queries.is_overdue(case, now), "filer": people.get(case.filer_id),
                "age": _age(child.birth_date if child else None)}

    def case_page(ctx: Ctx) -> Response:
        case = find_case(ctx, "open")
        if isinstance(case, Response):
            return case
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="open", case_ref=case.reference, detail="desk")
        q = ctx.request.query_params
        response = ctx.page("case", **case_context(ctx, case), msg=q.get("msg", ""), error=q.get("error", ""))
        response.headers["Cache-Control"] = "no-store"
        return response

    def case_action(ctx: Ctx) -> Response:
        case = find_case(ctx, "action")
        if isinstance(case, Response):
            return case
        form = ctx.form
        action = str(form.get("action") or "")
        service = CaseActions(ctx.s, ctx.user)
        target = f"/desk/case/{case.reference}"
        if action == "note":
            if not service.note(case, str(form.get("text") or "")):
                return RedirectResponse(f"{target}?error=note_empty#note", status_code=303)
            return RedirectResponse(f"{target}?msg=note#notes", status_code=303)
        if action not in ACTIONS:
            return ctx.refused("action", case.reference, f"unknown action {action[:20]}")
        to = ACTIONS[action]
        if to == Status.needs_documents:
            ids = {int(v) for v in form.getlist("doc") if str(v).isdigit()}
            service.set_requested(case, ids)
        reason = str(form.get("reason") or "")
        if reason == "other" or (to == Status.refused and not reason):
            reason = str(form.get("reason_text") or "")
        try:
            notices = service.transition(case, to, reason=reason if to == Status.refused else None,
                                         department=str(form.get("department") or "") if to == Status.accepted else None)
        except lifecycle.TransitionError as exc:
            repo.audit(ctx.s, user_key=ctx.user.user_key, action=f"status:{to.name}", case_ref=case.reference,
                       allowed=False, detail=exc.code)
            return RedirectResponse(f"{target}?error={exc.code}", status_code=303)
        queue_notices(ctx.s, notices)
        return RedirectResponse(f"{target}?msg={to.name}", status_code=303)

    def print_page(ctx: Ctx) -> Response:
        case = find_case(ctx, "print")
        if isinstance(case, Response):
            return case
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="print", case_ref=case.reference)
        response = render("print", **case_context(ctx, case), user=ctx.user, printing=True, printed=clock.local(clock.now()))
        response.headers["Cache-Control"] = "no-store"
        return response

    def docx(ctx: Ctx) -> Response:
        case = find_case(ctx, "docx")
        if isinstance(case, Response):
            return case
        from casework.export import export_docx

        repo.audit(ctx.s, user_key=ctx.user.user_key, action="docx", case_ref=case.reference)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_docx(ctx.s, reference=case.reference, out=Path(tmp) / "form.docx")
            content = path.read_bytes()
        return _download(content, f"{case.reference}.docx",
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document")

    def export(ctx: Ctx) -> AfterCommit:
        """The list as XLSX, as filtered on the desk (the same columns as `bot.py export`)."""
        from casework.export import xlsx_bytes

        f = queries.Filters.from_query(ctx.request.query_params)
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="export", detail=f"{f.query()}"[:500])
        only = queries.filtered_ids(prefixes=scope_prefixes(ctx.user), f=f)
        name = f"预申请-{clock.now():%Y%m%d-%H%M}.xlsx"
        return AfterCommit(lambda s: _download(xlsx_bytes(s, region_lineage=None, only=only), name,
                                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))

    # ------------------------------------------------------------ dashboard, account, admin

    def dashboard(ctx: Ctx) -> Response:
        d = queries.dashboard(ctx.s, prefixes=scope_prefixes(ctx.user))
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="dashboard")
        return ctx.page("dashboard", d=d, stale_days=get_settings().desk_stale_days)

    def account(ctx: Ctx) -> Response:
        return ctx.page("account")

    def admin_accounts(ctx: Ctx) -> Response:
        error, msg = "", ""
        if ctx.form is not None:
            error, msg = _admin_change(ctx)
        return ctx.page("accounts", 400 if error else 200, people=accounts.list_accounts(ctx.s),
                        roles=[r for r in accounts.DESK_ROLES], error=error, msg=msg,
                        locked=lambda u: accounts.is_locked(u))

    def admin_audit(ctx: Ctx) -> Response:
        q = ctx.request.query_params
        try:
            page_no = max(1, int(q.get("page") or 1))
        except ValueError:
            page_no = 1
        filters = {"user_key": (q.get("user") or "")[:64], "action": (q.get("action") or "")[:40],
                   "case_ref": (q.get("case") or "")[:32], "refused_only": q.get("refused") == "1"}
        rows, total = queries.audit_log(ctx.s, page=page_no, **filters)
        repo.audit(ctx.s, user_key=ctx.user.user_key, action="audit_view", detail=str(filters)[:500])
        return ctx.page("audit", rows=rows, total=total, q=q, page_no=page_no,
                        page_query=lambda n: urlencode({**{k: v for k, v in q.items()}, "page": n}))

    routes = [
        Route("/", page(queue_page)),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/totp", totp, methods=["GET", "POST"]),
        Route("/enrol", enrol, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/case/{ref}", page(case_page)),
        Route("/case/{ref}", page(case_action), methods=["POST"]),
        Route("/case/{ref}/print", page(print_page)),
        Route("/case/{ref}/docx", page(docx)),
        Route("/export.xlsx", page(export)),
        Route("/dashboard", page(dashboard)),
        Route("/account", page(account, roles=accounts.DESK_ROLES)),
        Route("/admin/accounts", page(admin_accounts, roles=(Role.admin,)), methods=["GET", "POST"]),
        Route("/admin/audit", page(admin_audit, roles=(Role.admin,))),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


class SecurityHeaders:
    """Pure ASGI: every desk response forbids framing, sniffing and scripts from elsewhere."""

    HEADERS = [(b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
                b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
               (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin")]

    def __init__(self, app):  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):  # noqa: ANN001
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------- helpers

def _users_of(case: PreApplication):
    from sqlmodel import col, or_, select

    by_history = select(StatusChange.by_id).where(StatusChange.case_id == case.id)
    by_notes = select(CaseNote.author_id).where(CaseNote.case_id == case.id)
    return select(User).where(or_(User.id == case.filer_id, col(User.id).in_(by_history), col(User.id).in_(by_notes)))


def _who(user: User | None) -> str:
    if user is None:
        return ""
    words = ROLE_WORDS.get(user.role, "")
    if user.role in (Role.staff, Role.admin):
        return f"{words} {user.display_name or user.username or ''}".strip()
    return words


def _age(birth: dt.date | None) -> int | None:
    if birth is None:
        return None
    today = clock.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _download(content: bytes, filename: str, media_type: str) -> Response:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "ignore").decode().lstrip("-") or "file"
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


def _admin_change(ctx: Ctx) -> tuple[str, str]:
    """Add / remove / reset / unlock an account from the admin page → (error code, done message)."""
    form, s = ctx.form, ctx.s
    op = str(form.get("op") or "")
    username = str(form.get("username") or "").strip()
    by = ctx.user.user_key
    try:
        if op == "add":
            role = Role(str(form.get("role") or "staff"))
            region = _region(str(form.get("region") or ""))
            if role == Role.staff and region is None:
                return "region", ""
            accounts.add_account(s, username=username, password=str(form.get("password") or ""), role=role,
                                 region=region, by=by)
            return "", f"added {username}"
        if op == "remove":
            if username == ctx.user.username:
                return "self", ""
            accounts.remove_account(s, username=username, by=by)
            return "", f"removed {username}"
        if op == "reset":
            accounts.reset_password(s, username=username, password=str(form.get("password") or ""), by=by)
            return "", f"reset {username}"
        if op == "unlock":
            user = accounts.get_account(s, username=username)
            if user is not None:
                user.locked_until, user.failed_logins = None, 0
                s.add(user)
                repo.audit(s, user_key=by, action="account_unlock", detail=username)
            return "", f"unlocked {username}"
    except (accounts.AccountError, ValueError) as exc:
        return str(exc)[:200], ""
    return "unknown", ""


def _region(text: str) -> str | None:
    if not text.strip():
        return None
    from policy_kb.loader import load_kb
    from policy_kb.places import place_index

    match = place_index(load_kb()).resolve(text.strip())
    return match.node.name if match.node is not None else None


def standalone() -> Starlette:
    """The desk alone at /desk, for `uvicorn --factory desk.app:standalone` where the web app
    (web/app.py, `python bot.py web`) is not used."""
    from starlette.routing import Mount

    from storage.db import make_engine

    return Starlette(routes=[Mount("/desk", app=create_desk_app(engine=make_engine()))])
