"""initial schema: every table of storage/models.py

Generated with `alembic revision --autogenerate` against an empty SQLite database, then reviewed:
- datetimes as sa.DateTime(timezone=True) (what sqlmodel's UTCDateTime emits), so this file does not
  depend on the sqlmodel version;
- plain op.create_index instead of batch blocks (creating an index needs no table copy on SQLite);
- the two str Enums (Role → type "role", Status → type "status", the names SQLModel gives them, which
  the ORM's bind casts use) are created once on PostgreSQL, before the tables: "status" is used by
  three columns in two tables and would otherwise be created twice; the downgrade drops them.
  On SQLite they are VARCHAR columns.  Like the ORM, the database stores the enum member *names*
  (submitted, reviewing…), not the Chinese values.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23 18:18:55

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001_initial"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ENUMS = {
    "role": ("guardian", "volunteer", "staff", "admin"),
    "status": ("submitted", "reviewing", "needs_documents", "accepted", "refused", "closed"),
}


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def enum(name: str) -> sa.types.TypeEngine:
    """The column type: on PostgreSQL a reference to the type created in upgrade(), elsewhere sa.Enum."""
    if _postgresql():
        return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)
    return sa.Enum(*ENUMS[name], name=name)


def string(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def timestamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    if _postgresql():
        for name, values in ENUMS.items():
            postgresql.ENUM(*values, name=name).create(op.get_bind(), checkfirst=True)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", timestamp(), nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("action", string(40), nullable=False),
        sa.Column("case_ref", string(32), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_user_key", "audit_log", ["user_key"], unique=False)

    op.create_table(
        "conversation_state",
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("user_key"),
    )
    op.create_index("ix_conversation_state_updated_at", "conversation_state", ["updated_at"], unique=False)

    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("processed_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("ix_processed_updates_processed_at", "processed_updates", ["processed_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_key", string(64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("role", enum("role"), nullable=False),
        sa.Column("region", string(120), nullable=True),
        sa.Column("display_name", string(120), nullable=True),
        sa.Column("referral_code", string(64), nullable=True),
        sa.Column("referred_by", sa.Integer(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["referred_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_users_referral_code", "users", ["referral_code"], unique=True)
    op.create_index("ix_users_telegram_id", "users", ["telegram_id"], unique=False)
    op.create_index("ix_users_user_key", "users", ["user_key"], unique=True)

    op.create_table(
        "families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filer_id", sa.Integer(), nullable=False),
        sa.Column("applicant_name", string(60), nullable=False),
        sa.Column("relation", string(30), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_masked", string(20), nullable=False),
        sa.Column("address", string(200), nullable=False),
        sa.Column("consent_at", timestamp(), nullable=False),
        sa.Column("consent_by", string(40), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["filer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_families_filer_id", "families", ["filer_id"], unique=False)

    op.create_table(
        "children",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("name", string(60), nullable=False),
        sa.Column("id_enc", sa.Text(), nullable=False),
        sa.Column("id_masked", string(20), nullable=False),
        sa.Column("id_hash", string(64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_children_family_id", "children", ["family_id"], unique=False)
    op.create_index("ix_children_id_hash", "children", ["id_hash"], unique=False)

    op.create_table(
        "pre_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", string(32), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("filer_id", sa.Integer(), nullable=False),
        sa.Column("region_input", string(120), nullable=False),
        sa.Column("place", string(120), nullable=True),
        sa.Column("place_lineage", string(400), nullable=False),
        sa.Column("facts_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("kb_version", string(64), nullable=False),
        sa.Column("status", enum("status"), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", string(32), nullable=True),
        sa.Column("department", string(120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", string(80), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"]),
        sa.ForeignKeyConstraint(["filer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    for column in ("child_id", "created_at", "family_id", "filer_id", "place", "status", "urgent"):
        op.create_index(f"ix_pre_applications_{column}", "pre_applications", [column], unique=False)
    op.create_index("ix_pre_applications_reference", "pre_applications", ["reference"], unique=True)

    op.create_table(
        "case_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", string(120), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("have", sa.Boolean(), nullable=True),
        sa.Column("requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pre_applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_documents_case_id", "case_documents", ["case_id"], unique=False)

    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["pre_applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"], unique=False)

    op.create_table(
        "status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("from_status", enum("status"), nullable=True),
        sa.Column("to_status", enum("status"), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["pre_applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_status_changes_case_id", "status_changes", ["case_id"], unique=False)


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in ("status_changes", "case_notes", "case_documents", "pre_applications", "children", "families",
                  "users", "processed_updates", "conversation_state", "audit_log"):
        op.drop_table(table)
    if _postgresql():
        for name in ENUMS:
            postgresql.ENUM(name=name).drop(op.get_bind(), checkfirst=True)
