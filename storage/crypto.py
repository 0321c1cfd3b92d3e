"""Encryption at rest (Fernet: AES-128-CBC + HMAC, from `cryptography`) for everything that can hold
a 身份证 or a phone number: the case's numbers, the conversation state, the outbox and the inbox.

Where the key comes from:
- TONGZHU_DATA_KEY: one Fernet key (`python bot.py keygen`), or several separated by commas, newest
  first, while rotating: the first encrypts, every one decrypts (MultiFernet).  Required when
  TONGZHU_ENV=production.
- Elsewhere, without it: a key generated once for this installation, kept in TONGZHU_KEY_FILE
  (default ~/.local/share/tongzhu/data.key, mode 0600), with a warning at start.  No key is ever
  derived from the source code.

The database remembers the key's fingerprint (table meta, storage/keys.py): started with another
key, the bot refuses to start and says why, instead of failing on every old ciphertext and quietly
missing duplicate children.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from settings import get_settings

log = logging.getLogger("tongzhu.crypto")


class MissingKey(RuntimeError):
    pass


def production() -> bool:
    return get_settings().production


def default_key_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tongzhu" / "data.key"


def key_file() -> Path:
    return get_settings().tongzhu_key_file or default_key_file()


def _split(value: str) -> list[str]:
    return [k.strip() for k in value.replace("\n", ",").split(",") if k.strip()]


def key_problem() -> str | None:
    """Why the bot must not start, or None."""
    value = get_settings().tongzhu_data_key
    if not value:
        if production():
            return ("TONGZHU_ENV=production but TONGZHU_DATA_KEY is not set: 身份证 and phone numbers would "
                    "not be encrypted with a secret key. Set it to a Fernet key (python bot.py keygen).")
        try:
            _read_or_make_key_file(key_file())
        except (OSError, ValueError) as exc:
            return f"the per-install key file {key_file()} cannot be used: {exc}"
        return None
    for key in _split(value):
        try:
            Fernet(key.encode())
        except ValueError:
            return "TONGZHU_DATA_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes): python bot.py keygen"
    return None


def _read_or_make_key_file(path: Path) -> str:
    """The per-install key: made once (mode 0600, never overwritten), then read."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Fernet.generate_key().decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it just now
            key = path.read_text(encoding="ascii").strip()
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key + "\n")
            log.warning("made a new per-install data key in %s (mode 0600)", path)
    Fernet(key.encode())  # ValueError when the file holds something else
    return key


@lru_cache(maxsize=8)
def _keys_for(value: str | None, path: str | None) -> tuple[str, ...]:
    if value:
        return tuple(_split(value))
    if production():
        raise MissingKey(key_problem() or "no key")
    key = _read_or_make_key_file(Path(path))
    log.warning("TONGZHU_DATA_KEY is not set: using the per-install key in %s. Fine to try 童助; "
                "in production set TONGZHU_DATA_KEY (python bot.py keygen) and keep it safe.", path)
    return (key,)


_CURRENT: tuple[str, ...] | None = None


def keys() -> tuple[str, ...]:
    """The configured keys, the one that encrypts first.  Read once per process (reading the
    settings costs milliseconds, and every update encrypts); `reset_keys()` reads them again."""
    global _CURRENT
    if _CURRENT is None:
        settings = get_settings()
        if not settings.tongzhu_data_key and settings.production:
            raise MissingKey(key_problem() or "no key")
        _CURRENT = _keys_for(settings.tongzhu_data_key or None,
                             None if settings.tongzhu_data_key else str(settings.tongzhu_key_file or default_key_file()))
    return _CURRENT


def reset_keys() -> None:
    """Forget the keys read (tests that change TONGZHU_DATA_KEY, `keys rotate`)."""
    global _CURRENT
    _CURRENT = None


@lru_cache(maxsize=8)
def _multi(keys_: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys_])


def _fernet() -> MultiFernet:
    return _multi(keys())


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate_token(token: str) -> str:
    """The same plaintext under the first key (MultiFernet.rotate)."""
    return _fernet().rotate(token.encode()).decode()


def lookup_hash(value: str, *, key: str | None = None) -> str:
    """A keyed hash: finds the same child's pending case without decrypting, useless without the key."""
    return hmac.new((key or keys()[0]).encode(), value.encode(), hashlib.sha256).hexdigest()


def lookup_hashes(value: str) -> list[str]:
    """The value's hash under every configured key: during a rotation, old cases still match."""
    return [lookup_hash(value, key=k) for k in keys()]


def fingerprint(key: str) -> str:
    """Names a key without revealing it (stored in the database, printed by `doctor`)."""
    return hashlib.sha256(b"tongzhu data key fingerprint\0" + key.encode()).hexdigest()[:16]


def new_key() -> str:
    return Fernet.generate_key().decode()


__all__ = ["encrypt", "decrypt", "rotate_token", "lookup_hash", "lookup_hashes", "fingerprint", "keys",
           "key_problem", "key_file", "new_key", "reset_keys", "MissingKey", "InvalidToken"]
