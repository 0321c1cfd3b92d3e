"""pre_applications.categories ("/孤儿/…/", the desk's filter) and due_at (filing + the office's time
limit in working days, for "overdue"); existing rows are filled from their stored result.

Revision ID: 0005_case_categories_due
Revises: 0004_desk_accounts
Create Date: 2026-11-25 03:00:00

"""
import datetime as dt
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes

revision: str = "0005_case_categories_due"
down_revision: Union[str, Sequence[str], None] = "0004_desk_accounts"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _limit(result: dict) -> int:
    for procedure in result.get("procedure") or []:
        for step in procedure.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("working_days"), int):
                return step["working_days"]
        break
    return 15


def _add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    moment = start
    while days > 0:
        moment += dt.timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def upgrade() -> None:
    op.add_column("pre_applications", sa.Column("categories", sqlmodel.sql.sqltypes.AutoString(length=400),
                                                nullable=False, server_default=""))
    op.add_column("pre_applications", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pre_applications_due_at", "pre_applications", ["due_at"], unique=False)
    table = sa.table("pre_applications", sa.column("id", sa.Integer), sa.column("result_json", sa.Text),
                     sa.column("created_at", sa.DateTime(timezone=True)), sa.column("categories", sa.String),
                     sa.column("due_at", sa.DateTime(timezone=True)))
    bind = op.get_bind()
    for row in bind.execute(sa.select(table.c.id, table.c.result_json, table.c.created_at)).fetchall():
        try:
            result = json.loads(row.result_json or "{}")
        except ValueError:
            result = {}
        names = [c.get("name", "") for c in result.get("categories") or [] if isinstance(c, dict)]
        bind.execute(table.update().where(table.c.id == row.id).values(
            categories=("/" + "/".join(n for n in names if n) + "/")[:400] if names else "",
            due_at=_add_working_days(row.created_at, _limit(result)) if row.created_at else None))


def downgrade() -> None:
    op.drop_index("ix_pre_applications_due_at", table_name="pre_applications")
    with op.batch_alter_table("pre_applications") as batch:
        batch.drop_column("due_at")
        batch.drop_column("categories")
