"""resume codes: a family goes on with its conversation on another device or channel

Revision ID: 0002_resume_codes
Revises: 0001_initial
Create Date: 2026-11-25 03:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0002_resume_codes"
down_revision: Union[str, Sequence[str], None] = "0001_initial"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "resume_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_resume_codes_user_key"), "resume_codes", ["user_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_resume_codes_user_key"), table_name="resume_codes")
    op.drop_table("resume_codes")
