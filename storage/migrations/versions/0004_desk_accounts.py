"""desk accounts: username, argon2 password hash, TOTP and lockout on users; staff_sessions;
the family's answers in words on pre_applications (answers_json)

Columns are added with plain op.add_column (SQLite can add a nullable column, or a NOT NULL one with
a server default, without a table copy); the NOT NULL ones get a server default so existing rows
are filled.

Revision ID: 0004_desk_accounts
Revises: 0003_outbox_inbox_keys
Create Date: 2026-11-25 02:45:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes

revision: str = "0004_desk_accounts"
down_revision: Union[str, Sequence[str], None] = "0003_outbox_inbox_keys"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def string(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def timestamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("username", string(60), nullable=True))
    op.add_column("users", sa.Column("password_hash", string(200), nullable=True))
    op.add_column("users", sa.Column("totp_secret_enc", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("locked_until", timestamp(), nullable=True))
    op.add_column("users", sa.Column("last_login_at", timestamp(), nullable=True))
    op.create_index("ix_users_username", "users", ["username"], unique=True)

    op.add_column("pre_applications", sa.Column("answers_json", sa.Text(), nullable=True))

    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", string(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stage", string(16), nullable=False),
        sa.Column("csrf", string(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("last_seen", timestamp(), nullable=False),
        sa.Column("ip", string(64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"], unique=False)
    op.create_index("ix_staff_sessions_last_seen", "staff_sessions", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_last_seen", table_name="staff_sessions")
    op.drop_index("ix_staff_sessions_user_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    with op.batch_alter_table("pre_applications") as batch:
        batch.drop_column("answers_json")
    op.drop_index("ix_users_username", table_name="users")
    with op.batch_alter_table("users") as batch:
        for name in ("last_login_at", "locked_until", "failed_logins", "totp_enabled", "totp_secret_enc",
                     "password_hash", "username"):
            batch.drop_column(name)
