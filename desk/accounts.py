"""Office accounts: a username and an argon2 password hash on a `users` row, a role and the place
served, optional TOTP (required for admins), and a lock after repeated failures.

An account may be the same row as a Telegram staff member (`tg:<id>`): then both desks are one
person in the audit log. An account without Telegram has user_key `desk:<username>`.
Keyword-only functions on a Session the caller owns.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from settings import get_settings
from storage import crypto, repo
from storage.models import Role, StaffSession, User, utcnow

DESK_ROLES = (Role.staff, Role.volunteer, Role.admin)
USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{1,59}")
MIN_PASSWORD = 10
ISSUER = "童助 办公台"
_hasher = PasswordHasher()


class AccountError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 个字符 (password needs at least {MIN_PASSWORD} characters)")


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite hands back naive UTC
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


def get_account(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def add_account(session: Session, *, username: str, password: str, role: Role, region: str | None,
                telegram_id: int | None = None, by: str = "cli") -> User:
    """Create the account, or give an existing (or removed) one a new role, place and password."""
    if not USERNAME.fullmatch(username):
        raise AccountError("用户名用字母开头，2–60 个字母、数字或 _ . - (username: a letter, then letters/digits/_.-)")
    check_password_rules(password)
    user = get_account(session, username=username)
    if telegram_id is not None:
        linked = session.exec(select(User).where(User.user_key == f"tg:{telegram_id}")).first()
        if linked is not None and user is not None and linked.id != user.id:
            raise AccountError(f"Telegram {telegram_id} 已经是另一个账户 (already another account)")
        user = user or linked
    if user is None:
        key = f"tg:{telegram_id}" if telegram_id is not None else f"desk:{username}"
        user = repo.get_or_create_user(session, user_key=key, telegram_id=telegram_id)
    user.username, user.role, user.region = username, role, region
    if telegram_id is not None:
        user.telegram_id = telegram_id
    user.display_name = user.display_name or username
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    session.flush()
    repo.audit(session, user_key=by, action="account_add",
               detail=f"{username} ({user.user_key}) → {role.value} {region or ''}")
    return user


def list_accounts(session: Session) -> list[User]:
    return list(session.exec(select(User).where(col(User.username).is_not(None),
                                                col(User.role).in_(DESK_ROLES)).order_by(User.username)))


def remove_account(session: Session, *, username: str, by: str = "cli") -> User:
    """No more desk or staff access; the row stays, so history and the audit log keep naming them."""
    user = get_account(session, username=username)
    if user is None:
        raise AccountError(f"没有这个账户：{username} (no such account)")
    user.role, user.region, user.password_hash = Role.guardian, None, None
    user.totp_secret_enc, user.totp_enabled = None, False
    session.add(user)
    end_sessions(session, user=user)
    repo.audit(session, user_key=by, action="account_remove", detail=f"{username} ({user.user_key})")
    return user


def reset_password(session: Session, *, username: str, password: str, by: str = "cli") -> User:
    user = get_account(session, username=username)
    if user is None or user.role not in DESK_ROLES:
        raise AccountError(f"没有这个账户：{username} (no such account)")
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    end_sessions(session, user=user)
    repo.audit(session, user_key=by, action="account_password", detail=f"{username} ({user.user_key})")
    return user


def end_sessions(session: Session, *, user: User) -> None:
    session.exec(delete(StaffSession).where(StaffSession.user_id == user.id))


# ---------------------------------------------------------------- signing in

@dataclass
class LoginResult:
    user: User | None
    ok: bool
    why: str = ""  # "", "wrong", "locked"


def is_locked(user: User, *, now: dt.datetime | None = None) -> bool:
    until = _aware(user.locked_until)
    return until is not None and until > (now or utcnow())


def _failed(session: Session, user: User, what: str) -> None:
    settings = get_settings()
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= settings.desk_max_failures:
        user.locked_until = utcnow() + dt.timedelta(minutes=settings.desk_lock_minutes)
        user.failed_logins = 0
        repo.audit(session, user_key=user.user_key, action="login_locked", allowed=False,
                   detail=f"after {settings.desk_max_failures} failures ({what})")
    session.add(user)


def check_login(session: Session, *, username: str, password: str, ip: str = "") -> LoginResult:
    """The password step. A locked account is refused even with the right password."""
    user = get_account(session, username=username)
    if user is None or user.role not in DESK_ROLES or not user.password_hash:
        _hasher.hash(password)  # the same work as for a real account: no timing hint that it exists
        repo.audit(session, user_key=f"desk:{username}"[:64], action="login", allowed=False,
                   detail=f"no such account ip={ip}")
        return LoginResult(None, False, "wrong")
    if is_locked(user):
        repo.audit(session, user_key=user.user_key, action="login", allowed=False, detail=f"locked ip={ip}")
        return LoginResult(user, False, "locked")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        _failed(session, user, "password")
        repo.audit(session, user_key=user.user_key, action="login", allowed=False, detail=f"wrong password ip={ip}")
        return LoginResult(user, False, "locked" if is_locked(user) else "wrong")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(user)
    return LoginResult(user, True)


def needs_totp(user: User) -> bool:
    return user.role == Role.admin or user.totp_enabled


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username or user.user_key, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG (qrcode's SVG factory: no Pillow)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def check_totp(session: Session, *, user: User, code: str, secret: str | None = None) -> bool:
    """A six-digit code of the account's secret (or of `secret` at enrolment); failures count to the lock."""
    if is_locked(user):
        return False
    secret = secret or (crypto.decrypt(user.totp_secret_enc) if user.totp_secret_enc else None)
    code = re.sub(r"\s", "", code or "")
    if secret and re.fullmatch(r"\d{6}", code) and pyotp.TOTP(secret).verify(code, valid_window=1):
        return True
    _failed(session, user, "totp")
    repo.audit(session, user_key=user.user_key, action="login_totp", allowed=False, detail="wrong code")
    return False


def enable_totp(session: Session, *, user: User, secret: str) -> None:
    user.totp_secret_enc, user.totp_enabled = crypto.encrypt(secret), True
    session.add(user)
    repo.audit(session, user_key=user.user_key, action="totp_enrol")


def signed_in(session: Session, *, user: User, ip: str = "") -> None:
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, utcnow()
    session.add(user)
    repo.audit(session, user_key=user.user_key, action="login", detail=f"ip={ip}")
