"""An index for the desk's lists and counts: every column they filter, sort and count by, so that
the queue, its count, the dashboard and the filter choices read the index alone, not the rows (a
case's row carries its facts, result and answers as JSON, ≈ 17 KB: at 10,000 cases a scan of the
rows read 170 MB for a list of 50).

Revision ID: 0006_desk_list_index
Revises: 0005_case_categories_due
Create Date: 2026-12-04 21:00:00

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0006_desk_list_index"
down_revision: Union[str, Sequence[str], None] = "0005_case_categories_due"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ["status", "place_lineage", "categories", "place", "urgent", "created_at", "due_at", "child_id",
           "family_id"]


def upgrade() -> None:
    op.create_index("ix_pre_applications_desk", "pre_applications", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_pre_applications_desk", table_name="pre_applications")
