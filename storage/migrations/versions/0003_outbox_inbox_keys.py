"""outbox, inbox and meta tables; processed_updates keyed by (bot_id, update_id)

- outbox: every reply and notice, written in the same transaction as the state (storage/outbox.py);
- inbox: Telegram updates fetched by long polling, written before their offset is confirmed;
- meta: the data key's fingerprint (storage/keys.py);
- processed_updates gets the bot's id in its key.  Its rows are short-lived dedupe keys: the table
  is recreated empty (an update redelivered across this upgrade would be handled twice; upgrade
  with the bot stopped).

Revision ID: 0003_outbox_inbox_keys
Revises: 0002_resume_codes
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes

revision: str = "0003_outbox_inbox_keys"
down_revision: Union[str, Sequence[str], None] = "0002_resume_codes"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def string(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def timestamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_processed_updates_processed_at", table_name="processed_updates")
    op.drop_table("processed_updates")
    op.create_table(
        "processed_updates",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("processed_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "update_id"),
    )
    op.create_index("ix_processed_updates_processed_at", "processed_updates", ["processed_at"], unique=False)

    op.create_table(
        "inbox",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", timestamp(), nullable=False),
        sa.Column("not_before", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("bot_id", "update_id"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("channel", string(16), nullable=False),
        sa.Column("kind", string(16), nullable=False),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("important", sa.Boolean(), nullable=False),
        sa.Column("edit_of", string(64), nullable=True),
        sa.Column("status", string(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("parts_sent", sa.Integer(), nullable=False),
        sa.Column("claimed_until", timestamp(), nullable=True),
        sa.Column("error", string(200), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("done_at", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_user_key", "outbox", ["user_key"], unique=False)
    op.create_index("ix_outbox_channel", "outbox", ["channel"], unique=False)
    op.create_index("ix_outbox_status", "outbox", ["status"], unique=False)
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], unique=False)

    op.create_table(
        "meta",
        sa.Column("key", string(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    for name in ("created_at", "status", "channel", "user_key"):
        op.drop_index(f"ix_outbox_{name}", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_index("ix_processed_updates_processed_at", table_name="processed_updates")
    op.drop_table("processed_updates")
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("processed_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("ix_processed_updates_processed_at", "processed_updates", ["processed_at"], unique=False)
