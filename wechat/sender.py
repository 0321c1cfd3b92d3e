"""WeChat's delivery from the outbox (storage/outbox.py): customer-service messages, and what WeChat
does not allow now is kept for the user's next visit.

Every reply and notice for a `wx:` user is in the outbox, committed with the state. Three ways out:
- the passive reply: right after handling a message, the app claims the user's pending messages
  (`claim_for_reply`: the step's replies, and any notice kept for this visit, oldest first), gives
  the first part of their merged text as the passive reply, sends the rest by customer-service
  message after the response, and records the outcome (`record`);
- the late answer: when the passive deadline passed, the same, all by customer-service message;
- the sender thread (`Sender`): every INTERVAL seconds it claims the pending `wx` messages nobody
  is sending (notices from the office desk or Telegram staff, answers whose sending failed) and
  sends each user's as one batch.

A batch is merged as the passive reply is (wechat/compose.py): one text, then one 菜单消息.
WeChat allows customer-service messages only within 48 hours of the user's last message: outside
it WeChat answers 45015, and the batch is parked (`PARK_SECONDS`); the user's next message
unparks it, and it is given in the passive reply to that message. Outcomes follow the outbox's
rules: a timeout is "unknown" (sent at most once more), a refused connection or a 5xx is retried,
any other refusal fails the message.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Iterable

import requests
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from wechatpy.exceptions import WeChatClientException

from storage import outbox
from storage.models import OutboxMessage, utcnow
from wechat import client as wx_client
from wechat.compose import compose

log = logging.getLogger("tongzhu.wechat")

CHANNEL = "wx"
PARK_SECONDS = 30 * 24 * 3600  # outside the 48-hour window: until the user writes again
INTERVAL = 1.0  # seconds between the sender thread's rounds
MIN_AGE = 1.0  # the sender leaves a message this fresh to the request that wrote it
RETRY_SECONDS = 5.0
T = OutboxMessage.__table__
# -1 system busy, 45009 API quota, 40013/40125 a wrong AppID/AppSecret (fixed by the admin, then sent)
RETRY_CODES = {-1, 45009, 40013, 40125}

SENT, PARKED, RETRY, UNKNOWN, FAILED = "sent", "parked", "retry", "unknown", "failed"


def openid_of(user_key: str) -> str:
    return user_key.split(":", 1)[1]


def claim_for_reply(session: Session, *, user_key: str) -> list[outbox.Item]:
    """The user wrote: what was parked for their next visit is due now; claim all their messages."""
    parked_after = utcnow() + dt.timedelta(seconds=outbox.LEASE_SECONDS * 10)
    session.execute(update(T).where(T.c.user_key == user_key, T.c.status == "pending",
                                    T.c.claimed_until > parked_after).values(claimed_until=None))
    return outbox.claim(session, channel=CHANNEL, user_key=user_key)


def send_batch(client: wx_client.Client, items: list[outbox.Item], *, skip_parts: int = 0) -> str:
    """Send one user's messages as one composed answer (minus the parts already given passively)."""
    openid = openid_of(items[0].user_key)
    try:
        delivered = wx_client.send(client, openid, compose(i.reply for i in items), skip_parts)
    except requests.ConnectTimeout:
        return RETRY
    except requests.Timeout:
        return UNKNOWN
    except requests.ConnectionError:
        return RETRY
    except WeChatClientException as exc:
        if exc.errcode is None or exc.errcode in RETRY_CODES:  # an HTTP error status, busy, misconfigured
            return RETRY
        if exc.errcode == 45047:  # too many customer-service messages without an answer: later
            return PARKED
        log.warning("WeChat refused a message to %s: %s %s", openid, exc.errcode, exc.errmsg)
        return FAILED
    return SENT if delivered else PARKED


def record(engine: Engine, items: Iterable[outbox.Item], result: str) -> None:
    items = list(items)
    if not items:
        return
    with Session(engine) as session, session.begin():
        if result == SENT:
            outbox.mark_sent(session, item_ids=[i.id for i in items])
            return
        for item in items:
            if result == PARKED:
                outbox.retry_later(session, item_id=item.id, seconds=PARK_SECONDS,
                                   error="outside WeChat's 48-hour window: kept for the next visit")
            elif result == RETRY:
                outbox.retry_later(session, item_id=item.id, seconds=RETRY_SECONDS, error="WeChat not reached")
            elif result == UNKNOWN:
                outbox.mark_unknown(session, item_id=item.id, error="WeChat timed out")
            else:
                outbox.mark_failed(session, item_id=item.id, error="WeChat refused the message")


def by_user(items: list[outbox.Item]) -> dict[str, list[outbox.Item]]:
    grouped: dict[str, list[outbox.Item]] = {}
    for item in items:
        grouped.setdefault(item.user_key, []).append(item)
    return grouped


class Sender(threading.Thread):
    """Delivers pending `wx` messages nobody else is sending, every INTERVAL seconds, until stopped."""

    def __init__(self, *, engine: Engine, client: wx_client.Client, interval: float = INTERVAL):
        super().__init__(name="wechat-sender", daemon=True)
        self.engine, self.client, self.interval = engine, client, interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.round()
            except Exception:  # noqa: BLE001  (the database away for a moment: next round)
                log.exception("WeChat sender round failed")

    def round(self) -> int:
        with Session(self.engine) as session, session.begin():
            items = outbox.claim(session, channel=CHANNEL, min_age=MIN_AGE)
        for batch in by_user(items).values():
            record(self.engine, batch, send_batch(self.client, batch))
        return len(items)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
