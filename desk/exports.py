"""The case list as XLSX, as filtered on the desk: casework/export.py's streamed export (the same
columns as `bot.py export`, with the urgent reason and the family's answers), narrowed to the ids the
desk's filters and the user's places select."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlmodel import Session

from casework import export


def xlsx_of(session: Session, only) -> bytes:  # noqa: ANN001
    """`only`: a SELECT of PreApplication.id (desk/queries.py filtered_ids)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.xlsx"
        export.export_xlsx(session, region_lineage=None, out=out, only=only)
        return out.read_bytes()
