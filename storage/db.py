"""The database: SQLite by default (WAL), PostgreSQL through DATABASE_URL (psycopg 3).

Conversation state lives here, keyed by user, written on every step, so a restart — or a second
process — continues exactly where the user was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from sqlalchemy import event
from sqlmodel import Field, Session, SQLModel, create_engine, select

DEFAULT_URL = "sqlite:///tongzhu.db"


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_state"

    user_key: str = Field(primary_key=True, max_length=120)
    state_json: str
    updated_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str | None = None):
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL",
                           "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    return engine


def load_state(*, engine, user_key: str) -> dict[str, Any] | None:
    with Session(engine) as session:
        row = session.get(ConversationState, user_key)
        return json.loads(row.state_json) if row else None


def save_state(*, engine, user_key: str, state: dict[str, Any]) -> None:
    with Session(engine) as session:
        row = session.get(ConversationState, user_key)
        payload = json.dumps(state, ensure_ascii=False)
        if row is None:
            row = ConversationState(user_key=user_key, state_json=payload)
        else:
            row.state_json = payload
            row.updated_at = dt.datetime.now(dt.timezone.utc)
        session.add(row)
        session.commit()


def all_keys(*, engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(ConversationState.user_key)))
