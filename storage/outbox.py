"""The outbox: every reply and notice is written here in the SAME transaction as the change that
caused it, then delivered by the user's channel.  After a crash at any point, every committed
message is still here and is delivered; nothing is sent that was not committed.

Writing (inside the caller's transaction; `conversation.session.handle` does it for every update):

    outbox.add(session, user_key="tg:42", reply=Reply("filed", {...}))          # one message
    outbox.add_outcome(session, user_key=key, replies=out.replies, notices=out.notices,
                       edit_of="1234")                                          # a whole step

    The channel is the user_key's prefix: "tg:" Telegram, "wx:" WeChat, "web:" the web chat,
    "console:" the console.  A message is stored as template name + context + buttons (never as
    rendered text), so each channel renders it its own way at delivery (Telegram HTML, plain text,
    an htmx fragment): `item.reply` is a conversation.model.Reply, render it with
    templates.render_reply(item.reply, html=...).

Pushing channels (Telegram, WeChat) deliver with one call, from a loop and right after an update:

    counts = await outbox.deliver(engine, channel="tg", send=my_send, user_key=None)

    `send(item)` is the channel's async function.  It returns normally when the message is
    delivered, or raises:
      RetryLater(seconds)   — certainly NOT delivered (429, 5xx, connection refused): tried again;
      OutcomeUnknown()      — maybe delivered (a timeout after the request went out, a dropped
                              connection): tried ONCE more, then left as "unknown", so a family sees
                              a message at most twice (a send cut short by a crash counts too).
                              When such a message carried a reference number (`item.important`),
                              a short, different message repeats the number: it always arrives;
      Undeliverable(reason) — never deliverable (the user blocked the bot, a bad request): dropped.
    A long message sent in parts raises with `parts_sent=n` so the parts already delivered are not
    sent again.  One user's messages go out in order: a user whose messages are being sent by
    another worker is skipped (a lease, taken under the user's lock).

Pulling channels (the web chat, the console) show what is pending at the user's next request:

    items = outbox.take(session, user_key="web:7")      # pending → "shown", oldest first
    n = outbox.pending_count(session, user_key="web:7")  # the unread count

Rows: status pending → sent | shown | unknown | failed.  The payload is encrypted with the data key
(storage/crypto.py), because a context can hold a name, a phone number or a 身份证 typed by
mistake; delivered rows are deleted by the maintenance job
(`purge`, one day).  All functions are keyword-only and work on a Session the caller owns, except
`deliver`, which opens its own short transactions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import inspect
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable, Iterable

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from conversation.model import Button, Notice, Reply
from storage import crypto, hot
from storage.db import lock_user
from storage.models import OutboxMessage, utcnow

log = logging.getLogger("tongzhu.outbox")

LEASE_SECONDS = 60  # a sender holds a user's messages this long; a crashed sender's lease expires
UNKNOWN_TRIES = 2  # an ordinary message is sent at most twice when the outcome stays unknown
PENDING_KEEP = dt.timedelta(days=30)  # a message nobody came to read is deleted after this
MAX_ATTEMPTS = 60  # certain failures (429, 500, refused: nothing sent) are retried this often, back-off up to 30 s
REFERENCE = re.compile(r"TZ\d{8}-[0-9A-F]{6}")
T = OutboxMessage.__table__


class RetryLater(Exception):
    """Certainly not delivered: try again after `seconds`."""

    def __init__(self, seconds: float = 1.0, reason: str = "", *, parts_sent: int | None = None):
        super().__init__(reason or f"retry in {seconds}s")
        self.seconds, self.reason, self.parts_sent = float(seconds), reason, parts_sent


class OutcomeUnknown(Exception):
    """Maybe delivered (a timeout after the request went out): not blindly resent."""

    def __init__(self, reason: str = "", *, parts_sent: int | None = None):
        super().__init__(reason or "outcome unknown")
        self.reason, self.parts_sent = reason, parts_sent


class Undeliverable(Exception):
    """Never deliverable (blocked, chat gone, a message the channel refuses)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Item:
    """One message to deliver: `reply` is what to render; the rest is bookkeeping."""

    id: int
    user_key: str
    channel: str
    kind: str
    reply: Reply
    important: bool
    edit_of: str | None
    attempts: int
    unknown: int
    parts_sent: int
    created_at: dt.datetime


@dataclass
class Counts:
    sent: int = 0
    retried: int = 0
    unknown: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- writing

def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives datetimes back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def channel_of(user_key: str) -> str:
    return user_key.split(":", 1)[0] if ":" in user_key else "console"


def _encode(reply: Reply) -> str:
    data = {"t": reply.template, "c": _plain(reply.context),
            "b": [[[b.label, b.action] for b in row] for row in reply.buttons],
            "e": reply.edit, "n": reply.numbered}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def _enums() -> dict[str, type[Enum]]:
    from storage import models

    return {cls.__name__: cls for cls in vars(models).values()
            if isinstance(cls, type) and issubclass(cls, Enum) and cls is not Enum}


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """A context as JSON that comes back as it went in: dates, times and our enums keep their type
    (templates call strftime and .value on them); rows and dataclasses become mappings."""
    kind = type(value)  # the common cases first (an Enum or a subclass is not one of these exact types)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return {"__enum__": type(value).__name__, "name": value.name}
    if isinstance(value, dt.datetime):
        return {"__dt__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_fields"):  # SQLModel / pydantic
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    return str(value)


def _revive(obj: dict[str, Any]) -> Any:
    if "__dt__" in obj and len(obj) == 1:
        return dt.datetime.fromisoformat(obj["__dt__"])
    if "__date__" in obj and len(obj) == 1:
        return dt.date.fromisoformat(obj["__date__"])
    if "__enum__" in obj and len(obj) == 2:
        cls = _enums().get(obj["__enum__"])
        return cls[obj["name"]] if cls is not None else obj["name"]
    return obj


def _decode(raw: str) -> Reply:
    data = json.loads(raw, object_hook=_revive)
    return Reply(data["t"], data["c"], [[Button(label, action) for label, action in row] for row in data["b"]],
                 edit=data["e"], numbered=data["n"])


def _row(user_key: str, reply: Reply, kind: str, edit_of: str | int | None, important: bool | None,
         now: dt.datetime) -> dict[str, Any]:
    payload = _encode(reply)
    return {"user_key": user_key, "channel": channel_of(user_key), "kind": kind,
            "payload_enc": crypto.encrypt(payload),
            "important": bool(REFERENCE.search(payload)) if important is None else important,
            "edit_of": str(edit_of) if edit_of is not None and reply.edit else None,
            "status": "pending", "attempts": 0, "unknown": 0, "parts_sent": 0, "claimed_until": None,
            "error": None, "created_at": now, "done_at": None}


def add(session: Session, *, user_key: str, reply: Reply, kind: str = "reply",
        edit_of: str | int | None = None, important: bool | None = None) -> int:
    """Queue one message for `user_key`, in the caller's transaction.  → its id."""
    row = _row(user_key, reply, kind, edit_of, important, utcnow())
    return session.execute(insert(T).values(row).returning(T.c.id)).scalar_one()


def add_outcome(session: Session | Connection, *, user_key: str, replies: Iterable[Reply],
                notices: Iterable[Notice] = (), edit_of: str | int | None = None,
                queued: list[Item] | None = None, pending: bool | None = None) -> None:
    """Queue a step's replies (to `user_key`) and notices (to whom they name), in order.

    `queued`: the caller will send the replies itself right after the commit (`send_items`): they
    are leased to it here, in the same transaction, and appended to the list — unless older
    messages of the user are still pending, which must go first (then `deliver` sends them all).
    `pending`: whether older messages are pending, when the caller already read it in this
    transaction (conversation/session.py reads it with the state); None: asked here.
    `session` may be a bare Connection (the update's hot path): the messages are then one plain
    INSERT (storage/hot.py); conversation/session.py uses `Outgoing` to write them with the state."""
    replies = list(replies)
    if pending is None and queued is not None and replies:
        pending = session.execute(
            select(T.c.id).where(T.c.user_key == user_key, T.c.status == "pending").limit(1)).first() is not None
    out = Outgoing(user_key=user_key, replies=replies, notices=notices, edit_of=edit_of, queued=queued,
                   pending=bool(pending))
    if not out.rows:
        return
    if isinstance(session, Connection):
        out.written(hot.add_outbox_rows(session, out.rows))
    else:
        out.written([r[0] for r in session.execute(insert(T).returning(T.c.id, sort_by_parameter_order=True),
                                                   out.rows).all()])


class Outgoing:
    """A step's replies and notices as outbox rows (`rows`), to be INSERTed by the caller, which
    then hands their ids to `written`: the replies leased to the caller are appended to `queued`.
    Replies are leased when the caller sends them itself (`queued` is a list) and no older message
    of the user is `pending`."""

    def __init__(self, *, user_key: str, replies: list[Reply], notices: Iterable[Notice] = (),
                 edit_of: str | int | None = None, queued: list[Item] | None = None, pending: bool) -> None:
        self.user_key, self.replies, self.queued = user_key, replies, queued
        self.lease = queued is not None and bool(replies) and not pending
        self.now = now = utcnow()
        self.rows = [_row(user_key, reply, "reply", edit_of, None, now) for reply in replies]
        if self.lease:
            for row in self.rows:  # leased to the caller; a send may start as soon as this commits
                row["claimed_until"], row["unknown"] = now + dt.timedelta(seconds=LEASE_SECONDS), 1
        self.rows += [_row(n.user_key, n.reply, "notice", None, None, now) for n in notices]

    def written(self, ids: list[int]) -> None:
        if self.lease:
            self.queued += [Item(id=i, user_key=self.user_key, channel=row["channel"], kind="reply", reply=reply,
                                 important=row["important"], edit_of=row["edit_of"], attempts=0, unknown=0,
                                 parts_sent=0, created_at=self.now)
                            for i, row, reply in zip(ids, self.rows, self.replies)]


# ---------------------------------------------------------------- reading (pull channels)

def _item(row: Any) -> Item:
    return Item(id=row.id, user_key=row.user_key, channel=row.channel, kind=row.kind,
                reply=_decode(crypto.decrypt(row.payload_enc)), important=row.important, edit_of=row.edit_of,
                attempts=row.attempts, unknown=row.unknown, parts_sent=row.parts_sent, created_at=row.created_at)


def take(session: Session, *, user_key: str) -> list[Item]:
    """A pulling channel: the user's pending messages, oldest first, now marked "shown"."""
    rows = session.execute(select(T).where(T.c.user_key == user_key, T.c.status == "pending")
                           .order_by(T.c.id)).all()
    if rows:
        session.execute(update(T).where(T.c.id.in_([r.id for r in rows]))
                        .values(status="shown", done_at=utcnow(), claimed_until=None))
    return [_item(r) for r in rows]


def pending_count(session: Session, *, user_key: str) -> int:
    return session.execute(select(func.count()).select_from(T)
                           .where(T.c.user_key == user_key, T.c.status == "pending")).scalar_one()


def pending(session: Session, *, user_key: str) -> list[Item]:
    """The user's pending messages without marking them (for tests and tools)."""
    return [_item(r) for r in session.execute(select(T).where(T.c.user_key == user_key, T.c.status == "pending")
                                              .order_by(T.c.id)).all()]


# ---------------------------------------------------------------- delivering (push channels)

def claim(session: Session, *, channel: str, user_key: str | None = None, limit: int = 50,
          lease_seconds: int = LEASE_SECONDS, min_age: float = 0.0) -> list[Item]:
    """Take a lease on pending messages of `channel` (one user's, or any users'), oldest first.
    `claimed_until` is both a sender's lease and a failed send's "not before": a user whose oldest
    pending message is held is skipped, so one user's messages always go out in order.
    `min_age` (seconds): a background loop leaves fresh messages to the handler that wrote them."""
    now = utcnow()
    stmt = select(T.c.user_key).where(T.c.channel == channel, T.c.status == "pending",
                                      or_(T.c.claimed_until.is_(None), T.c.claimed_until <= now))
    if min_age:
        stmt = stmt.where(T.c.created_at <= now - dt.timedelta(seconds=min_age))
    if user_key is not None:
        stmt = stmt.where(T.c.user_key == user_key)
    users = sorted({r.user_key for r in session.execute(stmt.order_by(T.c.id).limit(limit)).all()})
    taken: list[Item] = []
    for key in users:
        lock_user(session, key)  # PostgreSQL: two senders never claim one user's messages at once
        rows = session.execute(select(T).where(T.c.user_key == key, T.c.status == "pending", T.c.channel == channel)
                               .order_by(T.c.id).limit(limit)).all()
        if not rows or (rows[0].claimed_until is not None and aware(rows[0].claimed_until) > now):
            continue  # being sent by another sender, or waiting for a retry: the later ones wait too
        for r in [r for r in rows if r.unknown >= UNKNOWN_TRIES]:  # sent twice (or crashed twice) already
            _give_up(session, r)
        rows = [r for r in rows if r.unknown < UNKNOWN_TRIES]
        if not rows:
            continue
        # `unknown` counts the sends that may have happened: one starts now.  A crash before the
        # outcome is recorded leaves it counted, so no message goes out more than twice.
        session.execute(update(T).where(T.c.id.in_([r.id for r in rows])).values(
            claimed_until=now + dt.timedelta(seconds=lease_seconds), unknown=T.c.unknown + 1))
        taken += [_item(r) for r in rows]
    return taken


def _give_up(session: Session, row: Any) -> None:
    """A message that may have gone out twice is not sent again.  If it carried a reference number,
    a short different message repeats the number: the reference always arrives."""
    session.execute(update(T).where(T.c.id == row.id).values(status="unknown", done_at=utcnow(),
                                                             claimed_until=None))
    if row.important:
        refs = list(dict.fromkeys(REFERENCE.findall(crypto.decrypt(row.payload_enc))))[:3]
        log.warning("message %s (a reference number) may not have arrived: the number is sent again alone", row.id)
        add(session, user_key=row.user_key, reply=Reply("reference_again", {"references": refs}), kind=row.kind,
            important=False)
    else:
        log.info("message %s: outcome unknown twice, not sent again", row.id)


def mark_sent(session: Session, *, item_id: int | None = None, item_ids: Iterable[int] = ()) -> None:
    ids = [*([item_id] if item_id is not None else []), *item_ids]
    if ids:
        session.execute(update(T).where(T.c.id.in_(ids)).values(
            status="sent", done_at=utcnow(), claimed_until=None, error=None, attempts=T.c.attempts + 1))


def mark_parts(session: Session, *, item_id: int, parts_sent: int) -> None:
    session.execute(update(T).where(T.c.id == item_id).values(parts_sent=parts_sent))


def retry_later(session: Session, *, item_id: int, seconds: float, error: str = "",
                parts_sent: int | None = None) -> bool:
    """A certain failure (nothing delivered): try again later.  False once MAX_ATTEMPTS is reached:
    then it is failed."""
    row = session.execute(select(T.c.attempts).where(T.c.id == item_id)).first()
    if row is None:
        return False
    values: dict[str, Any] = {"attempts": row.attempts + 1, "error": (error or "retry")[:200],
                              "claimed_until": utcnow() + dt.timedelta(seconds=seconds),
                              "unknown": T.c.unknown - 1}
    if parts_sent is not None:
        values["parts_sent"] = parts_sent
    if row.attempts + 1 >= MAX_ATTEMPTS:
        values.update(status="failed", done_at=utcnow(), claimed_until=None)
        log.error("message %s: %s failures, given up", item_id, MAX_ATTEMPTS)
    session.execute(update(T).where(T.c.id == item_id).values(**values))
    return row.attempts + 1 < MAX_ATTEMPTS


def mark_unknown(session: Session, *, item_id: int, error: str = "", parts_sent: int | None = None,
                 retry_in: float = 1.0) -> bool:
    """A send whose outcome is unknown (it stays counted).  → True when it will be tried once more."""
    row = session.execute(select(T).where(T.c.id == item_id)).first()
    if row is None:
        return False
    values: dict[str, Any] = {"attempts": row.attempts + 1, "error": (error or "outcome unknown")[:200]}
    if parts_sent is not None:
        values["parts_sent"] = parts_sent
    again = row.unknown < UNKNOWN_TRIES
    values["claimed_until"] = utcnow() + dt.timedelta(seconds=retry_in)
    session.execute(update(T).where(T.c.id == item_id).values(**values))
    if not again:
        _give_up(session, row)
    return again


def mark_failed(session: Session, *, item_id: int, error: str = "") -> None:
    session.execute(update(T).where(T.c.id == item_id).values(
        status="failed", done_at=utcnow(), claimed_until=None, error=(error or "failed")[:200],
        attempts=T.c.attempts + 1))


def purge(session: Session, *, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Delete delivered (or given-up) messages older than `older_than`, and any message still
    pending after PENDING_KEEP (a web user who never came back, a channel that never pulled)."""
    now = now or utcnow()
    done = session.execute(delete(T).where(T.c.status != "pending", T.c.created_at < now - older_than)).rowcount
    stale = session.execute(delete(T).where(T.c.created_at < now - PENDING_KEEP)).rowcount
    return (done or 0) + (stale or 0)


# ---------------------------------------------------------------- the delivery loop of a push channel

DbRunner = Callable[..., Awaitable[Any]]


async def _to_thread(fn, /, **kwargs):
    return await asyncio.to_thread(functools.partial(fn, **kwargs))


def _tx(engine: Engine, fn: Callable[..., Any], **kwargs: Any) -> Any:
    with Session(engine) as session, session.begin():
        return fn(session, **kwargs)


class Delivered:
    """Ids of messages delivered but not yet recorded as sent, for a process whose database work runs
    on ONE thread (SQLite, handlers/telegram_app.py `Bridge`): the next transaction on that thread
    records them first (conversation/session.py `handle(delivered=…)`), so an update costs one
    transaction, not two; when no transaction comes, the sender's own short one does (`drain`).
    The thread's jobs run in order, so a user's next update always finds its earlier messages sent.
    Thread-safe: ids are added on the event loop and taken on the database thread."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._ids)

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.extend(ids)

    def take(self) -> list[int]:
        with self._lock:
            ids, self._ids = self._ids, []
        return ids

    def give_back(self, ids: list[int]) -> None:
        """A transaction that was to record them failed: the next one records them."""
        with self._lock:
            self._ids[:0] = ids

    def record(self, connection: Connection, ids: list[int]) -> None:
        if ids:
            hot.mark_sent_on(connection, item_ids=ids)

    def drain(self, engine: Engine) -> None:
        """Record what is left, in a short transaction of its own (on the database thread)."""
        ids = self.take()
        if not ids:
            return
        try:
            hot.mark_sent(engine, item_ids=ids)
        except BaseException:
            self.give_back(ids)
            raise


async def deliver(engine: Engine, *, channel: str, send: Callable[[Item], Awaitable[None]],
                  user_key: str | None = None, run_db: DbRunner | None = None, limit: int = 50,
                  min_age: float = 0.0, record_sent: Callable[[list[int]], Any] | None = None) -> Counts:
    """Claim pending messages of `channel` (one user's, or anyone's) and send them in order.
    `run_db(fn, **kwargs)` runs blocking database work (default: a worker thread).  A background
    loop passes `min_age=2`: a message just written is sent by the request that wrote it."""
    run_db = run_db or _to_thread
    items = await run_db(_tx, engine=engine, fn=claim, channel=channel, user_key=user_key, limit=limit,
                         min_age=min_age)
    return await send_items(engine, items=items, send=send, run_db=run_db, record_sent=record_sent)


async def send_items(engine: Engine, *, items: list[Item], send: Callable[[Item], Awaitable[None]],
                     run_db: DbRunner | None = None, record_sent: Callable[[list[int]], Any] | None = None) -> Counts:
    """Send claimed (or `queued`, see add_outcome) messages in order and record each outcome;
    the delivered ones are recorded together at the end, in a short transaction, or by
    `record_sent(ids)` when given (a `Delivered` of the single database thread; it may be async)."""
    run_db = run_db or _to_thread
    counts = Counts()
    blocked: set[str] = set()  # a user whose message waits: their later messages wait too (order)
    try:
        for item in items:
            if item.user_key in blocked:
                await run_db(_tx, engine=engine, fn=_release, item_id=item.id)
                continue
            try:
                await send(item)
            except RetryLater as exc:
                counts.retried += 1
                blocked.add(item.user_key)
                await run_db(_tx, engine=engine, fn=retry_later, item_id=item.id, seconds=exc.seconds,
                             error=exc.reason, parts_sent=exc.parts_sent)
            except OutcomeUnknown as exc:
                counts.unknown += 1
                blocked.add(item.user_key)
                await run_db(_tx, engine=engine, fn=mark_unknown, item_id=item.id, error=exc.reason,
                             parts_sent=exc.parts_sent)
            except Undeliverable as exc:
                counts.failed += 1
                log.warning("message %s to %s not deliverable: %s", item.id, item.user_key, exc.reason)
                await run_db(_tx, engine=engine, fn=mark_failed, item_id=item.id, error=exc.reason)
            except Exception as exc:  # noqa: BLE001 - a bug in a sender must not lose the message
                counts.retried += 1
                blocked.add(item.user_key)
                log.exception("sending message %s failed", item.id)
                await run_db(_tx, engine=engine, fn=retry_later, item_id=item.id, seconds=5,
                             error=type(exc).__name__)
            else:
                counts.sent += 1
                counts.ids.append(item.id)
    finally:
        if counts.ids:
            if record_sent is not None:
                recorded = record_sent(list(counts.ids))
                if inspect.isawaitable(recorded):
                    await recorded
            else:
                await run_db(_mark_sent_now, engine=engine, item_ids=list(counts.ids))
    return counts


def _mark_sent_now(*, engine: Engine, item_ids: list[int]) -> None:
    """mark_sent in its own short transaction, one plain statement (the hot path, storage/hot.py)."""
    hot.mark_sent(engine, item_ids=item_ids)


def _release(session: Session, *, item_id: int) -> None:
    """Claimed but not attempted (an earlier message of the user must go first)."""
    session.execute(update(T).where(T.c.id == item_id).values(claimed_until=None, unknown=T.c.unknown - 1))


def release_all(session: Session, *, channel: str) -> int:
    """Drop every lease of `channel` (a single sender starting after a crash: nobody else holds one)."""
    return session.execute(update(T).where(T.c.channel == channel, T.c.status == "pending",
                                           T.c.claimed_until.is_not(None)).values(claimed_until=None)).rowcount or 0


def next_due(session: Session, *, channel: str) -> dt.datetime | None:
    """When the next pending message of `channel` may be sent (None: nothing pending)."""
    return session.execute(select(func.min(func.coalesce(T.c.claimed_until, T.c.created_at)))
                           .where(T.c.channel == channel, T.c.status == "pending")).scalar_one_or_none()


__all__ = ["add", "add_outcome", "channel_of", "take", "pending", "pending_count", "claim", "mark_sent",
           "mark_parts", "retry_later", "mark_unknown", "mark_failed", "purge", "deliver", "send_items", "next_due",
           "release_all",
           "Item", "Delivered", "Counts", "RetryLater", "OutcomeUnknown", "Undeliverable"]
