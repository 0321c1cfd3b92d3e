"""The data key and the database belong together: the key's fingerprint is stored in the database
(table meta), checked at every start, and `python bot.py keys rotate` moves everything to a new key.

    problem = keys.check(engine)   # None, or why the bot must not start with this key
    report = keys.rotate(engine)   # after TONGZHU_DATA_KEY="NEW,OLD": re-encrypt and re-hash

Rotation: put the new key first in TONGZHU_DATA_KEY, the old one after it (comma-separated), run
`python bot.py keys rotate` (every ciphertext re-encrypted under the new key, every duplicate hash
recomputed, the fingerprint updated, in one transaction), then drop the old key from the variable.
While both are configured, the bot runs normally: old ciphertexts decrypt, old hashes still match.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import crypto
from storage.models import Child, ConversationState, Family, InboxUpdate, Meta, OutboxMessage

log = logging.getLogger("tongzhu.keys")
FINGERPRINT = "data_key_fingerprint"


class KeyMismatch(RuntimeError):
    pass


def stored_fingerprint(session: Session) -> str | None:
    row = session.get(Meta, FINGERPRINT)
    return row.value if row is not None else None


def _set_fingerprint(session: Session, value: str) -> None:
    row = session.get(Meta, FINGERPRINT)
    if row is None:
        session.add(Meta(key=FINGERPRINT, value=value))
    else:
        row.value = value
        session.add(row)


def check(engine: Engine) -> str | None:
    """None when the configured key opens this database (recording its fingerprint the first time),
    else a one-line explanation."""
    problem = crypto.key_problem()
    if problem:
        return problem
    configured = [crypto.fingerprint(k) for k in crypto.keys()]
    with Session(engine) as session, session.begin():
        stored = stored_fingerprint(session)
        if stored is None:
            _set_fingerprint(session, configured[0])
            return None
    if stored == configured[0]:
        return None
    if stored in configured:
        log.warning("the database is still under an older data key (%s): run `python bot.py keys rotate`", stored)
        return None
    where = "TONGZHU_DATA_KEY" if _from_env() else f"the key file {crypto.key_file()}"
    return (f"the database was encrypted with another data key (fingerprint {stored}); {where} has "
            f"fingerprint {configured[0]}. Start with the key this database was made with (old ciphertexts "
            f"and duplicate checks would fail), or rotate: TONGZHU_DATA_KEY=NEW,OLD then bot.py keys rotate.")


def _from_env() -> bool:
    from settings import get_settings

    return bool(get_settings().tongzhu_data_key)


def rotate(engine: Engine) -> dict[str, int]:
    """Re-encrypt every ciphertext under the first configured key and recompute the duplicate hashes."""
    counts = {"phones": 0, "ids": 0, "states": 0, "outbox": 0, "inbox": 0}
    with Session(engine) as session, session.begin():
        for family in session.scalars(select(Family)):
            family.phone_enc = crypto.rotate_token(family.phone_enc)
            session.add(family)
            counts["phones"] += 1
        for child in session.scalars(select(Child)):
            number = crypto.decrypt(child.id_enc)
            child.id_enc = crypto.rotate_token(child.id_enc)
            child.id_hash = crypto.lookup_hash(number)
            session.add(child)
            counts["ids"] += 1
        st = ConversationState.__table__
        for row in session.execute(select(st.c.user_key, st.c.state_json)).all():
            raw = row.state_json
            new = crypto.encrypt(raw) if raw.startswith("{") else crypto.rotate_token(raw)
            session.execute(update(st).where(st.c.user_key == row.user_key).values(state_json=new))
            counts["states"] += 1
        for model, name, key_cols in ((OutboxMessage, "outbox", ("id",)), (InboxUpdate, "inbox", ("bot_id", "update_id"))):
            t = model.__table__
            for row in session.execute(select(t)).all():
                cond = [t.c[c] == getattr(row, c) for c in key_cols]
                session.execute(update(t).where(*cond).values(payload_enc=crypto.rotate_token(row.payload_enc)))
                counts[name] += 1
        _set_fingerprint(session, crypto.fingerprint(crypto.keys()[0]))
    return counts
