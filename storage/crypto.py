"""Encryption at rest for 身份证 and phone numbers (Fernet: AES-128-CBC + HMAC, from `cryptography`).

The key comes from TONGZHU_DATA_KEY (a Fernet key: `python bot.py keygen` prints one).  In
production (TONGZHU_ENV=production) the bot refuses to start without it.  Elsewhere a fixed
development key is used and said so, so that the console and the tests run on a fresh machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet

from settings import get_settings

_DEV_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"tongzhu development key, not a secret").digest())


class MissingKey(RuntimeError):
    pass


def production() -> bool:
    return get_settings().production


def key_problem() -> str | None:
    """Why the bot must not start, or None."""
    key = get_settings().tongzhu_data_key
    if not key:
        return ("TONGZHU_ENV=production but TONGZHU_DATA_KEY is not set: 身份证 and phone numbers would "
                "not be encrypted with a secret key. Set it to a Fernet key (python bot.py keygen).") if production() else None
    try:
        Fernet(key.encode())
    except ValueError:
        return "TONGZHU_DATA_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes): python bot.py keygen"
    return None


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    return Fernet(key)


def _key() -> bytes:
    problem = key_problem()
    if problem:
        raise MissingKey(problem)
    key = get_settings().tongzhu_data_key
    return key.encode() if key else _DEV_KEY


def encrypt(value: str) -> str:
    return _fernet(_key()).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet(_key()).decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    """A keyed hash: finds the same child's pending case without decrypting, useless without the key."""
    return hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()


def new_key() -> str:
    return Fernet.generate_key().decode()
