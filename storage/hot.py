"""The hot path of one update (conversation/session.py `handle`, storage/outbox.py delivery) in few
statements, each written once per database as plain SQL and sent on the DBAPI cursor: no ORM
session, no SQL construction, compilation or result objects per update (SQLAlchemy's own cost per
statement was most of the database thread's time, issue 15).

    with engine.begin() as conn:                        # SQLite: BEGIN IMMEDIATE (storage/db.py)
        row = hot.begin_update(conn, ...)               # lock + dedupe + the user, the state and "older
                                                        # messages pending": SQLite one statement, PostgreSQL two
        ...
        hot.save_state(conn, user_key=key, payload=..., existed=row.state_json is not None)
        ids = hot.add_outbox_rows(conn, rows)           # the messages (storage/outbox.py `add_outcome`)
    hot.mark_sent(engine, item_ids=[...])               # one short transaction after a send
    hot.mark_sent_and_look(engine, ...)                 # or the mark and a look for more, under the lock

The statements run on the connection's DBAPI cursor (sqlite3, psycopg) in the connection's transaction
(`execute`): SQLAlchemy's execution layer cost ≈ 60 µs a statement, the driver's own call a few.
Every statement is still shown to the `before_cursor_execute` listeners (the statement counts of the
benchmark and the tests), and a driver's error reaches the caller as SQLAlchemy's (OperationalError …,
a lost connection invalidated), as through `exec_driver_sql`.

`Held(engine)` is an engine whose `begin()` runs on one connection the calling thread keeps (a
database thread's), instead of a pool checkout, its reset and, on PostgreSQL, a pre-ping per
transaction; a connection that saw an error is given back and a fresh one taken.  Datetimes go through the same bind processor SQLAlchemy would use (on
SQLite a string in its own format, so comparisons with rows it wrote stay right); on PostgreSQL the
parameters are cast as SQLAlchemy casts them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Connection, Engine

from storage.models import utcnow

TS = "::TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class Loaded:
    """What an update needs before the step: the user (None: first contact), the stored state, and
    whether older messages of the user are still pending in the outbox."""

    user_id: int | None
    role: str | None
    display_name: str | None
    referred_by: int | None
    state_json: str | None
    pending: bool


class Sql:
    """The statements of one dialect (SQLite qmark/named, psycopg pyformat)."""

    def __init__(self, dialect: Any) -> None:
        self.pg = dialect.name == "postgresql"
        process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
        self.ts = process or (lambda value: value)
        cast = TS if self.pg else ""

        def p(sql: str) -> str:  # ":name" → "%(name)s" for psycopg
            return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql) if self.pg else sql

        self.p = p
        columns = "INSERT INTO processed_updates (bot_id, update_id, user_key, processed_at) "
        conflict = " ON CONFLICT (bot_id, update_id) DO NOTHING RETURNING update_id"
        self.record = p(columns + f"VALUES (:b, :u, :k, :t{cast})" + conflict)
        # PostgreSQL: the user's lock and the dedupe in one statement (the lock is taken as the
        # INSERT reads its one row; the state is read by the NEXT statement, after the lock)
        self.lock_record = p("WITH l AS (SELECT pg_advisory_xact_lock(:lk)) " + columns
                             + f"SELECT :b, :u, :k, :t{cast} FROM l" + conflict)
        self.lock = p("SELECT pg_advisory_xact_lock(:lk)")
        self.inbox_done = p("DELETE FROM inbox WHERE bot_id = :b AND update_id = :u")
        self.load = p("SELECT u.id, u.role, u.display_name, u.referred_by, s.state_json, "
                      "EXISTS (SELECT 1 FROM outbox o WHERE o.user_key = :k AND o.status = 'pending') "
                      "FROM (SELECT 1 AS one) AS one LEFT JOIN users u ON u.user_key = :k "
                      "LEFT JOIN conversation_state s ON s.user_key = :k")
        # SQLite: the dedupe and the read in one statement (RETURNING may hold subqueries; a
        # redelivered update returns no row).  BEGIN IMMEDIATE, before it, is the lock.
        self.record_load = p(columns + "VALUES (:b, :u, :k, :t) ON CONFLICT (bot_id, update_id) DO NOTHING RETURNING "
                             + ", ".join(f"(SELECT {c} FROM users WHERE user_key = :k)"
                                         for c in ("id", "role", "display_name", "referred_by"))
                             + ", (SELECT state_json FROM conversation_state WHERE user_key = :k), "
                             "EXISTS (SELECT 1 FROM outbox o WHERE o.user_key = :k AND o.status = 'pending')")
        self.update_state = p(f"UPDATE conversation_state SET state_json = :j, version = version + 1, "
                              f"updated_at = :t{cast} WHERE user_key = :k")
        self.insert_state = p(f"INSERT INTO conversation_state (user_key, state_json, version, updated_at) "
                              f"VALUES (:k, :j, 1, :t{cast})")
        self.upsert_state = p(f"INSERT INTO conversation_state (user_key, state_json, version, updated_at) "
                              f"VALUES (:k, :j, 1, :t{cast}) ON CONFLICT (user_key) DO UPDATE SET "
                              "state_json = EXCLUDED.state_json, version = conversation_state.version + 1, "
                              "updated_at = EXCLUDED.updated_at")
        self._outbox_rows: dict[int, str] = {}
        self._state_and_rows: dict[int, str] = {}

        self.due_for = p(f"SELECT 1 FROM outbox WHERE channel = :c AND status = 'pending' AND user_key = :k "
                         f"AND (claimed_until IS NULL OR claimed_until <= :t{cast}) LIMIT 1")

    def outbox_rows(self, n: int) -> str:
        """INSERT of n outbox rows in one statement (parameters `name_i`: `rows_params`), RETURNING
        their ids."""
        statement = self._outbox_rows.get(n)
        if statement is None:
            cast = TS if self.pg else ""
            values = ", ".join(
                f"(:user_key_{i}, :channel_{i}, :kind_{i}, :payload_enc_{i}, :important_{i}, :edit_of_{i}, "
                f":status_{i}, :attempts_{i}, :unknown_{i}, :parts_sent_{i}, :claimed_until_{i}{cast}, "
                f":error_{i}, :created_at_{i}{cast}, :done_at_{i}{cast})" for i in range(n))
            statement = self._outbox_rows[n] = self.p(
                "INSERT INTO outbox (user_key, channel, kind, payload_enc, important, edit_of, status, attempts, "
                f"unknown, parts_sent, claimed_until, error, created_at, done_at) VALUES {values} RETURNING id")
        return statement

    def state_and_rows(self, n: int) -> str:
        """PostgreSQL: the state's upsert and n outbox rows in one statement (a data-modifying CTE
        runs once, to completion, whether or not the INSERT reads it)."""
        statement = self._state_and_rows.get(n)
        if statement is None:
            statement = self._state_and_rows[n] = f"WITH s AS ({self.upsert_state}) {self.outbox_rows(n)}"
        return statement

    def _sent(self, n: int) -> str:
        """The SET of a delivered message (parameters `mark_params`) and the ids' list."""
        ids = ", ".join(f":i{i}" for i in range(n))
        return (f"SET status = 'sent', done_at = :t{TS if self.pg else ''}, claimed_until = NULL, error = NULL, "
                f"attempts = attempts + 1", f"id IN ({ids})")

    def mark_sent(self, n: int) -> str:
        sent, ids = self._sent(n)
        return self.p(f"UPDATE outbox {sent} WHERE {ids}")

    def lock_mark(self, n: int) -> str:
        """PostgreSQL: the user's lock, then the mark (the one-row CTE is joined before any row changes)."""
        sent, ids = self._sent(n)
        return self.p(f"WITH l AS (SELECT pg_advisory_xact_lock(:lk)) UPDATE outbox {sent} FROM l WHERE {ids}")


@functools.lru_cache(maxsize=8)
def _sql(dialect_name: str, driver: str, dialect: Any) -> Sql:
    return Sql(dialect)


def sql_of(bind: Connection | Engine) -> Sql:
    dialect = bind.dialect
    return _sql(dialect.name, dialect.driver, dialect)


_CURSOR = "tongzhu.hot.cursor"


def execute(conn: Connection, statement: str, params: Any) -> Any:
    """`statement` on the DBAPI cursor of `conn`, in its transaction → the cursor (read it with
    `_first` / `_rowcount`, or close it).  What `exec_driver_sql` does, without its result objects:
    the listeners of `before_cursor_execute` see the statement; a driver error is raised as
    SQLAlchemy's.  psycopg: one cursor per connection, kept (a client-side cursor holds no state on
    the server and reads every row at once; making one costs more than the statement's own work);
    sqlite3: a fresh one, closed after use, so no statement is left in progress at COMMIT."""
    fairy = conn.connection
    cursor = fairy.info.get(_CURSOR)
    try:
        if cursor is None:
            cursor = fairy.dbapi_connection.cursor()
            if conn.dialect.name == "postgresql":
                fairy.info[_CURSOR] = cursor
        if conn._has_events or conn.engine._has_events:  # noqa: SLF001 - as SQLAlchemy checks it
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, statement, params, None, False)
        cursor.execute(statement, params)
    except Exception as exc:  # noqa: BLE001 - wrapped (and the connection invalidated when lost) by SQLAlchemy
        fairy.info.pop(_CURSOR, None)
        conn._handle_dbapi_exception(exc, statement, params, cursor, None)  # noqa: SLF001
    return cursor


def done(conn: Connection, cursor: Any) -> None:
    """Finished with a cursor of `execute` (PostgreSQL's kept one stays open)."""
    if conn.dialect.name != "postgresql":
        cursor.close()


def _first(conn: Connection, statement: str, params: dict[str, Any]) -> Any:
    cursor = execute(conn, statement, params)
    try:
        return cursor.fetchone()
    finally:
        done(conn, cursor)


def _rowcount(conn: Connection, statement: str, params: dict[str, Any]) -> int:
    cursor = execute(conn, statement, params)
    try:
        return cursor.rowcount
    finally:
        done(conn, cursor)


def lock_key(user_key: str) -> int:
    """The advisory lock's key of a user (storage/db.py `lock_user` takes the same)."""
    return zlib.crc32(user_key.encode())


def lock_and_record(conn: Connection, *, user_key: str, update_id: int | None, bot_id: int = 0,
                    inbox: bool = True) -> bool:
    """Take the user's lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock) and
    record the update: False when it was handled before.  `inbox`: a polled update leaves the
    inbox in this transaction (storage/repo.py `first_time` does the same)."""
    sql = sql_of(conn)
    if update_id is None:
        if sql.pg:
            _first(conn, sql.lock, {"lk": lock_key(user_key)})
        return True
    params = {"b": bot_id, "u": update_id, "k": user_key, "t": sql.ts(utcnow())}
    if sql.pg:
        params["lk"] = lock_key(user_key)
        first = _first(conn, sql.lock_record, params) is not None
    else:
        first = _first(conn, sql.record, params) is not None
    if bot_id and inbox:
        _rowcount(conn, sql.inbox_done, {"b": bot_id, "u": update_id})
    return first


def load(conn: Connection, *, user_key: str) -> Loaded:
    return _loaded(_first(conn, sql_of(conn).load, {"k": user_key}))


def _loaded(row: Any) -> Loaded:
    role = row[1]
    return Loaded(user_id=row[0], role=getattr(role, "value", role), display_name=row[2], referred_by=row[3],
                  state_json=row[4], pending=bool(row[5]))


def begin_update(conn: Connection, *, user_key: str, update_id: int | None, bot_id: int = 0,
                 inbox: bool = True) -> Loaded | None:
    """The start of an update's transaction: the lock, the dedupe and the read (`load`).
    → None when the update was handled before.  SQLite: one statement after BEGIN IMMEDIATE;
    PostgreSQL: two (the lock with the dedupe, then the read, which must see what was committed
    before the lock was granted)."""
    sql = sql_of(conn)
    if sql.pg or update_id is None:
        if not lock_and_record(conn, user_key=user_key, update_id=update_id, bot_id=bot_id, inbox=inbox):
            return None
        return load(conn, user_key=user_key)
    row = _first(conn, sql.record_load, {"b": bot_id, "u": update_id, "k": user_key, "t": sql.ts(utcnow())})
    if bot_id and inbox:
        _rowcount(conn, sql.inbox_done, {"b": bot_id, "u": update_id})
    return _loaded(row) if row is not None else None


def save_state(conn: Connection, *, user_key: str, payload: str, existed: bool,
               outbox_rows: list[dict[str, Any]] = ()) -> list[int]:
    """Update the user's state row, or insert it (first contact, or a step that deleted it), and
    add `outbox_rows` (storage/outbox.py `_row`) → their ids, in order.  PostgreSQL: one statement
    (one round trip to the server); SQLite: the state's UPDATE and one INSERT of the rows."""
    sql = sql_of(conn)
    params = {"k": user_key, "j": payload, "t": sql.ts(utcnow())}
    if sql.pg and outbox_rows:
        return _ids(conn, execute(conn, sql.state_and_rows(len(outbox_rows)), params | rows_params(sql, outbox_rows)))
    if not (existed and _rowcount(conn, sql.update_state, params)):
        _rowcount(conn, sql.insert_state, params)
    return add_outbox_rows(conn, outbox_rows) if outbox_rows else []


def rows_params(sql: Sql, rows: list[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            if name in ("claimed_until", "created_at", "done_at") and value is not None:
                value = sql.ts(value)
            params[f"{name}_{i}"] = value
    return params


def _ids(conn: Connection, cursor: Any) -> list[int]:
    """The ids an INSERT … RETURNING id gave, in the order of its VALUES (ids rise in that order;
    RETURNING promises no order)."""
    try:
        return sorted(row[0] for row in cursor.fetchall())
    finally:
        done(conn, cursor)


def add_outbox_rows(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Outbox rows (storage/outbox.py `_row`), one statement → their ids, in order."""
    sql = sql_of(conn)
    return _ids(conn, execute(conn, sql.outbox_rows(len(rows)), rows_params(sql, rows)))


def mark_params(item_ids: list[int], stamp: Any) -> dict[str, Any]:
    """The parameters of `Sql.mark_sent` / `lock_mark`: the ids and the time (`Sql.ts` of it)."""
    params: dict[str, Any] = {f"i{i}": item_id for i, item_id in enumerate(item_ids)}
    params["t"] = stamp
    return params


def mark_sent_on(conn: Connection, *, item_ids: list[int], now: dt.datetime | None = None) -> None:
    """Delivered, in the caller's transaction (storage/outbox.py `mark_sent` does the same in a session)."""
    sql = sql_of(conn)
    _rowcount(conn, sql.mark_sent(len(item_ids)), mark_params(item_ids, sql.ts(now or utcnow())))


def mark_sent(engine: Engine | Held, *, item_ids: list[int], now: dt.datetime | None = None) -> None:
    """Delivered: one short transaction."""
    with engine.begin() as conn:
        mark_sent_on(conn, item_ids=item_ids, now=now)


def mark_sent_and_look(engine: Engine | Held, *, item_ids: list[int], user_key: str, channel: str) -> bool:
    """Delivered, then: does `user_key` have messages a sender could take now (what storage/outbox.py
    `claim` would find)?  The mark takes the user's lock first, as an update does, and the look comes
    after the lock was granted, so it sees everything committed before.  Another worker's update of
    this user therefore either committed before (its messages, left behind ours, are found here) or
    comes after and finds ours sent (and sends its own).

    PostgreSQL: two statements in autocommit — the lock with the mark (`lock_mark`: the lock is the
    statement's, released when it commits), then the look, a statement of its own and so a snapshot
    taken after the lock — no BEGIN and COMMIT round trips.  SQLite: one transaction (its BEGIN
    IMMEDIATE is the lock)."""
    sql = sql_of(engine)
    now = sql.ts(utcnow())
    params = mark_params(item_ids, now)
    if not sql.pg:
        with engine.begin() as conn:
            _rowcount(conn, sql.mark_sent(len(item_ids)), params)
            return _first(conn, sql.due_for, {"c": channel, "k": user_key, "t": now}) is not None
    params["lk"] = lock_key(user_key)
    with engine.connect() as conn, _autocommit(conn):
        _rowcount(conn, sql.lock_mark(len(item_ids)), params)
        return _first(conn, sql.due_for, {"c": channel, "k": user_key, "t": now}) is not None


@contextlib.contextmanager
def _autocommit(conn: Connection):
    """psycopg's autocommit on `conn`'s driver connection (idle, outside any transaction) for the
    statements of the block, each then its own transaction; set back after."""
    if conn.in_transaction():
        raise RuntimeError("autocommit statements need a connection outside a transaction")
    driver = conn.connection.dbapi_connection
    driver.autocommit = True
    try:
        yield
    finally:
        if not conn.invalidated:
            driver.autocommit = False


class Held:
    """`engine.begin()` on a connection the calling thread keeps between transactions (the Telegram
    adapter's database thread, handlers/telegram_app.py `Bridge`): no pool checkout, reset on
    return or pre-ping per transaction.  The transaction is SQLAlchemy's own (`Connection.begin()`:
    SQLite's BEGIN IMMEDIATE of storage/db.py; an ORM Session made on the connection joins it).

    A connection whose transaction raised is closed (back to the pool, which resets or discards it)
    and the next transaction checks out a fresh one, pre-pinged on PostgreSQL: an error never
    leaves a kept connection in a doubtful state.  `close()` on the thread that kept it (or at the
    end, from anywhere: `close_all`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._local = threading.local()
        self._all: set[Connection] = set()
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.engine.connect()
            with self._lock:
                self._all.add(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._all.discard(conn)
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a lost connection: the pool discards it
                pass

    @contextlib.contextmanager
    def begin(self):
        conn = self._connection()
        try:
            with conn.begin():
                yield conn
        except BaseException:
            self._drop()
            raise

    @contextlib.contextmanager
    def connect(self):
        """The kept connection, outside a transaction (the caller begins its own)."""
        conn = self._connection()
        try:
            yield conn
        except BaseException:
            self._drop()
            raise
        if conn.in_transaction():  # never left open between jobs
            self._drop()

    def close(self) -> None:
        """Give this thread's connection back to the pool."""
        self._drop()

    def close_all(self) -> None:
        """Give every kept connection back (at shutdown, when the threads are done)."""
        with self._lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
