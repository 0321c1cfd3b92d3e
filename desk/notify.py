"""Notices to families from the desk go into the outbox (storage/outbox.py) in the same transaction
as the change; each channel delivers them its own way (Telegram pushes, the web chat shows them at
the next visit). Until the outbox is on main, they are kept in `PENDING` of this process and logged."""

from __future__ import annotations

import logging

from sqlmodel import Session

from conversation.model import Notice

log = logging.getLogger("tongzhu.desk")
PENDING: list[Notice] = []

try:  # storage/outbox.py (engineer "reliab")
    from storage import outbox as _outbox
except ImportError:  # pragma: no cover - before the outbox lands
    _outbox = None


def queue_notices(session: Session, notices: list[Notice]) -> None:
    for notice in notices:
        if _outbox is not None:
            _outbox.add(session, user_key=notice.user_key, reply=notice.reply)
        else:
            PENDING.append(notice)
            log.info("notice for %s: %s (no outbox yet)", notice.user_key, notice.reply.template)
