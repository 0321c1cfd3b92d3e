"""Desk sessions: a random token in a Secure, HttpOnly, SameSite=Strict cookie; only its SHA-256 is
stored (storage.models.StaffSession), with the session's CSRF token and its stage (password given,
TOTP still to give, TOTP being set up, or signed in). A session idle for DESK_IDLE_MINUTES ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import delete
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from settings import get_settings
from storage.models import StaffSession, User, utcnow

COOKIE = "tz_desk"
LOGIN_COOKIE = "tz_desk_login"  # double-submit CSRF token of the login form (no session yet)
PATH = "/desk"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def start(session: Session, *, user: User, stage: str, ip: str) -> tuple[str, StaffSession]:
    """A new session (any earlier one of this browser is ended by the caller) → (cookie token, row)."""
    token = secrets.token_urlsafe(32)
    row = StaffSession(token_hash=_digest(token), user_id=user.id, stage=stage, csrf=secrets.token_urlsafe(24),
                       ip=ip[:64])
    session.add(row)
    session.flush()
    return token, row


def load(session: Session, request: Request) -> tuple[StaffSession, User] | None:
    """The request's live session and its user; an idle one is deleted and None returned."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    row = session.get(StaffSession, _digest(token))
    if row is None:
        return None
    now = utcnow()
    if now - _aware(row.last_seen) > dt.timedelta(minutes=get_settings().desk_idle_minutes):
        session.delete(row)
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.password_hash:
        session.delete(row)
        return None
    if now - _aware(row.last_seen) > dt.timedelta(seconds=30):  # not a write on every click
        row.last_seen = now
        session.add(row)
    return row, user


def end(session: Session, request: Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        session.exec(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, path=PATH, httponly=True, samesite="strict",
                        secure=get_settings().desk_cookie_secure)


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=get_settings().desk_cookie_secure)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def purge_idle(session: Session) -> int:
    cutoff = utcnow() - dt.timedelta(minutes=get_settings().desk_idle_minutes)
    return session.exec(delete(StaffSession).where(StaffSession.last_seen < cutoff)).rowcount or 0
