"""Web security helpers shared by every page of the web app (family chat, desk): CSRF tokens for
forms, a request body size cap, rate limits, signed tokens, and the headers every page gets.

CSRF: a token per session (Starlette's signed session cookie holds it; the page puts it in a hidden
`csrf` field of each form, htmx sends that field with the form).  `csrf_ok` also refuses a post whose
`Origin`/`Sec-Fetch-Site` says it came from another site.

    from web.security import csrf_token, csrf_ok
    token = csrf_token(request)            # into the template: <input type=hidden name=csrf value=…>
    if not csrf_ok(request, form): ...     # on every POST, before doing anything

Body cap: `BodyLimit(app, max_bytes=…)` is ASGI middleware; it answers 413 as soon as the declared
or the streamed body passes the cap, before any handler reads it.

Rate limits: `RateLimiter(per_minute=…, burst=…)` is a token bucket per key (a session id, an IP),
in this process's memory: with several workers each keeps its own buckets, so a client gets at most
N× the rate — the cap is against floods and guessing, not an exact quota.  `client_ip(request)` is the
peer address (uvicorn rewrites it from X-Forwarded-For only for proxies in FORWARDED_ALLOW_IPS).

Signed tokens: `sign(value, purpose=…)` / `unsign(token, purpose=…, max_age=…)` (itsdangerous, keyed
by the web secret and the purpose), e.g. a WeChat openid carried in a link.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Mapping
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from settings import get_settings

log = logging.getLogger("tongzhu.web")

_DEV_SECRET = hashlib.sha256(b"tongzhu web development secret, not a secret").hexdigest()
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

# Every page: no framing by other sites, no sniffing, no referrer leaking a ?ref= or ?openid= link,
# scripts and styles only from this server.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
}


# ---------------------------------------------------------------- the secret

def secret_problem() -> str | None:
    """Why the web app must not start, or None."""
    settings = get_settings()
    if settings.production and not settings.tongzhu_web_secret:
        return ("TONGZHU_ENV=production but TONGZHU_WEB_SECRET is not set: session cookies and links would be "
                "signed with a known development secret. Set it to a long random string "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))').")
    if settings.tongzhu_web_secret and len(settings.tongzhu_web_secret) < 16:
        return "TONGZHU_WEB_SECRET is too short: use at least 16 random characters"
    return None


def web_secret() -> str:
    problem = secret_problem()
    if problem:
        raise RuntimeError(problem)
    return get_settings().tongzhu_web_secret or _DEV_SECRET


def subkey(purpose: str) -> str:
    """A key for one use (session cookie, openid links…) derived from the web secret."""
    return hmac.new(web_secret().encode(), purpose.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- signed values

def sign(value: str, *, purpose: str) -> str:
    return URLSafeTimedSerializer(subkey("sign:" + purpose), salt=purpose).dumps(value)


def unsign(token: str, *, purpose: str, max_age: int | None = None) -> str | None:
    """The signed value, or None when the token is forged, altered, for another purpose or too old."""
    if not token or len(token) > 1024:
        return None
    try:
        value = URLSafeTimedSerializer(subkey("sign:" + purpose), salt=purpose).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- CSRF

def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use). Needs SessionMiddleware on the app."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        # behind a reverse proxy the Host header may be the proxy's upstream: the public address counts too
        allowed = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
        public = get_settings().tongzhu_web_public_url
        if public:
            allowed.add(urlsplit(public).netloc)
        if urlsplit(origin).netloc not in allowed - {""}:
            return False
    return True


def csrf_ok(request: Request, form: Mapping[str, Any] | None) -> bool:
    """The posted token (form field `csrf` or header X-CSRF-Token) equals the session's, and the post
    did not come from another site."""
    expected = request.session.get(CSRF_FIELD)
    given = (form.get(CSRF_FIELD) if form is not None else None) or request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not isinstance(given, str) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode()) and same_origin(request)


# ---------------------------------------------------------------- body size cap

class BodyLimit:
    """ASGI middleware: a request whose body is larger than `max_bytes` gets 413 and never reaches
    the app's handler (checked on Content-Length and again while the body streams in)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    from templates import render_html

    body = render_html("web/too_large.html.j2").encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- rate limits

class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute` a minute.
    At most `max_keys` buckets are kept (the least recently used go first). Thread-safe."""

    def __init__(self, *, per_minute: float, burst: int | None = None, max_keys: int = 50_000,
                 clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
