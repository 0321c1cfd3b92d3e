"""Resume codes: a short code a family can write down (8 characters, shown as ABCD-EFGH) that goes
on with its conversation on another phone — or links two channels: typed in the web chat it
continues the conversation of whichever user key owns it (web:, wx:, tg:).

Keyword-only functions on a Session the caller owns. Codes use 31 unambiguous characters (no 0/O,
1/I/L): 31^8 ≈ 8.5×10^11 codes; guessing is further held back by a per-IP rate limit on /resume.
Another channel can show a family its code with `code_for(session, user_key=…)`.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import ResumeCode

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8


def normalize(text: str) -> str:
    """What the family typed → the stored form: capitals, no spaces or dashes; "abcd-efgh" works."""
    return re.sub(r"[\s\-_·.。—－]", "", text or "").upper()[:32]


def display(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == LENGTH else code


def code_for(session: Session, *, user_key: str) -> str:
    """This user's code, made on first use."""
    found = session.exec(select(ResumeCode.code).where(ResumeCode.user_key == user_key)).first()
    if found:
        return found
    for _ in range(10):
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        try:
            with session.begin_nested():
                session.add(ResumeCode(code=code, user_key=user_key))
            return code
        except IntegrityError:  # the code was taken, or another request made this user's code just now
            found = session.exec(select(ResumeCode.code).where(ResumeCode.user_key == user_key)).first()
            if found:
                return found
    raise RuntimeError("no free resume code")


def user_key_for(session: Session, *, code: str) -> str | None:
    code = normalize(code)
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return session.exec(select(ResumeCode.user_key).where(ResumeCode.code == code)).first()
