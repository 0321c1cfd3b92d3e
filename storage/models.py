"""The tables. SQLModel classes, one per entity; repository functions live in storage/repo.py.

Identity numbers and phone numbers are never stored in clear: `*_enc` holds the ciphertext
(storage/crypto.py), `*_masked` what lists and exports show, `*_hash` a keyed hash used to find a
pending case for the same child without decrypting anything.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Role(str, Enum):
    guardian = "guardian"
    volunteer = "volunteer"
    staff = "staff"
    admin = "admin"


class Status(str, Enum):
    submitted = "已提交"
    reviewing = "审核中"
    needs_documents = "需补充材料"
    accepted = "已受理"
    refused = "不予受理"
    closed = "已办结"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    user_key: str = Field(index=True, unique=True, max_length=64)  # "tg:12345", "console:root"
    telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True, nullable=True))
    role: Role = Field(default=Role.guardian)
    region: str | None = Field(default=None, max_length=120)  # staff: the place node they serve
    display_name: str | None = Field(default=None, max_length=120)
    referral_code: str | None = Field(default=None, index=True, unique=True, max_length=64)
    referred_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    # --- an office account on the web desk (desk/): absent for families and Telegram-only staff
    username: str | None = Field(default=None, index=True, unique=True, max_length=60)
    password_hash: str | None = Field(default=None, max_length=200)  # argon2id (argon2-cffi)
    totp_secret_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # storage/crypto
    totp_enabled: bool = Field(default=False)
    failed_logins: int = Field(default=0)
    locked_until: dt.datetime | None = None
    last_login_at: dt.datetime | None = None


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_state"

    user_key: str = Field(primary_key=True, max_length=64)
    state_json: str = Field(sa_column=Column(Text, nullable=False))
    version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, index=True)


class ProcessedUpdate(SQLModel, table=True):
    """Telegram redelivers updates whose offset was not confirmed: each update is handled once.
    The key is the bot's id with the update_id (two bots, or a new token, never collide), and keys
    expire (casework/jobs.py) so that update ids Telegram reuses much later are handled again."""

    __tablename__ = "processed_updates"

    bot_id: int = Field(default=0, sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_key: str = Field(max_length=64)
    processed_at: dt.datetime = Field(default_factory=utcnow, index=True)


class InboxUpdate(SQLModel, table=True):
    """A Telegram update fetched by long polling, written here BEFORE its offset is confirmed to
    Telegram, and processed from here (storage/inbox.py).  The update is kept encrypted (it holds
    what the family typed) and the row is deleted once processed."""

    __tablename__ = "inbox"

    bot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload_enc: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = 0
    received_at: dt.datetime = Field(default_factory=utcnow)
    not_before: dt.datetime | None = None  # a failed attempt waits before the next one


class OutboxMessage(SQLModel, table=True):
    """A message for one user, written in the same transaction as the change that caused it, then
    delivered by the user's channel (storage/outbox.py explains the life of a row).  The message
    (template, context, buttons) is kept encrypted: a context can hold a name or a number."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    user_key: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16, index=True)  # "tg", "wx", "web", "console": the user_key prefix
    kind: str = Field(default="reply", max_length=16)  # "reply" (to what the user did) or "notice"
    payload_enc: str = Field(sa_column=Column(Text, nullable=False))
    important: bool = False  # carries a reference number: delivered even after an unknown outcome
    edit_of: str | None = Field(default=None, max_length=64)  # the channel's message id to edit, if any
    status: str = Field(default="pending", max_length=16, index=True)  # pending/sent/shown/unknown/failed
    attempts: int = 0
    unknown: int = 0  # sends whose outcome was unknown (a timeout): at most one more try after one
    parts_sent: int = 0  # a long message goes in parts: those already delivered are not sent again
    claimed_until: dt.datetime | None = None  # a sender's lease, or when a failed send may be retried
    error: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    done_at: dt.datetime | None = None


class Meta(SQLModel, table=True):
    """Small facts about the installation: the data key's fingerprint (storage/keys.py)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Family(SQLModel, table=True):
    __tablename__ = "families"

    id: int | None = Field(default=None, primary_key=True)
    filer_id: int = Field(foreign_key="users.id", index=True)  # the guardian, or the volunteer
    applicant_name: str = Field(max_length=60)
    relation: str = Field(max_length=30)
    phone_enc: str = Field(sa_column=Column(Text, nullable=False))
    phone_masked: str = Field(max_length=20)
    address: str = Field(max_length=200)
    consent_at: dt.datetime = Field(default_factory=utcnow)
    consent_by: str = Field(max_length=40)  # "guardian" or "volunteer_for_guardian"
    created_at: dt.datetime = Field(default_factory=utcnow)


class Child(SQLModel, table=True):
    __tablename__ = "children"

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="families.id", index=True)
    name: str = Field(max_length=60)
    id_enc: str = Field(sa_column=Column(Text, nullable=False))
    id_masked: str = Field(max_length=20)
    id_hash: str = Field(index=True, max_length=64)
    birth_date: dt.date | None = None


class PreApplication(SQLModel, table=True):
    __tablename__ = "pre_applications"
    # the desk's lists and counts read this index alone, never the wide rows (migration 0006)
    __table_args__ = (Index("ix_pre_applications_desk", "status", "place_lineage", "categories", "place", "urgent",
                            "created_at", "due_at", "child_id", "family_id"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(index=True, unique=True, max_length=32)
    family_id: int = Field(foreign_key="families.id", index=True)
    child_id: int = Field(foreign_key="children.id", index=True)
    filer_id: int = Field(foreign_key="users.id", index=True)
    region_input: str = Field(max_length=120)
    place: str | None = Field(default=None, index=True, max_length=120)  # matched place node
    place_lineage: str = Field(default="", max_length=400)  # "重庆市/重庆市綦江区": staff scope
    facts_json: str = Field(sa_column=Column(Text, nullable=False))
    result_json: str = Field(sa_column=Column(Text, nullable=False))
    kb_version: str = Field(max_length=64)
    status: Status = Field(default=Status.submitted, index=True)
    urgent: bool = Field(default=False, index=True)
    duplicate_of: str | None = Field(default=None, max_length=32)
    department: str | None = Field(default=None, max_length=120)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)
    # The family's answers in words, as they were given: [{"question", "answer", "who", "at"}, …],
    # plus the story as told and the danger words (casework/service.py answers_record).
    answers_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    categories: str = Field(default="", max_length=400)  # "/孤儿/事实无人抚养儿童/": the desk's filter
    due_at: dt.datetime | None = Field(default=None, index=True)  # filing + the office's limit in working days
    created_at: dt.datetime = Field(default_factory=utcnow, index=True)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class CaseDocument(SQLModel, table=True):
    """The documents checklist of a case: the family ticks 有 / 还没有, staff ask for what is missing."""

    __tablename__ = "case_documents"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pre_applications.id", index=True)
    name: str = Field(max_length=120)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    have: bool | None = None
    requested: bool = False


class CaseNote(SQLModel, table=True):
    __tablename__ = "case_notes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pre_applications.id", index=True)
    author_id: int = Field(foreign_key="users.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow)


class StatusChange(SQLModel, table=True):
    __tablename__ = "status_changes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="pre_applications.id", index=True)
    from_status: Status | None = None
    to_status: Status
    by_id: int = Field(foreign_key="users.id")
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: dt.datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Every read of a case and every action, allowed or refused. Never holds a clear ID number."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    user_key: str = Field(max_length=64, index=True)
    action: str = Field(max_length=40)
    case_ref: str | None = Field(default=None, max_length=32)
    allowed: bool = True
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ResumeCode(SQLModel, table=True):
    """A short code shown to a family in the web chat: typed on another phone (or in another channel)
    it goes on with the same conversation, under the same user key (web/resume.py)."""

    __tablename__ = "resume_codes"

    code: str = Field(primary_key=True, max_length=16)
    user_key: str = Field(index=True, unique=True, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)

class StaffSession(SQLModel, table=True):
    """A signed-in desk browser. The cookie holds a random token; only its SHA-256 is stored here.

    `stage`: "password" (password right, TOTP still to give), "enrol" (an admin setting up TOTP),
    "ok" (signed in). Idle sessions end after DESK_IDLE_MINUTES (desk/auth.py)."""

    __tablename__ = "staff_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    stage: str = Field(default="ok", max_length=16)
    csrf: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen: dt.datetime = Field(default_factory=utcnow, index=True)
    ip: str = Field(default="", max_length=64)
