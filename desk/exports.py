"""The case list as XLSX, as filtered on the desk, with what the office needs to see why: the
family's answers in words and the urgent reason beside casework/export.py's columns."""

from __future__ import annotations

import io
from typing import Any

from sqlmodel import Session, col, select

from casework import export
from casework.record import describe_case, urgent_reason
from storage.models import CaseDocument, Child, Family, PreApplication

EXTRA_HEADERS = ["紧急原因", "家属的回答"]
EXTRA_WIDTHS = [40, 60]


def answers_text(record: dict[str, Any]) -> str:
    lines = [f"{a['question']}：{a['answer']}" for a in record.get("answers") or []]
    lines += [f"讲述：{t['text']}" for t in record.get("told") or []]
    return "\n".join(lines) or "\n".join(record.get("facts") or [])


def xlsx_of(session: Session, cases: list[PreApplication]) -> bytes:
    """One row per case, in the order given (the desk's queue order)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ids = [c.id for c in cases]
    people: dict[int, tuple[Family, Child]] = {}
    docs: dict[int, list[CaseDocument]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for case_id, family, child in session.exec(
                select(PreApplication.id, Family, Child).join(Family, Family.id == PreApplication.family_id)
                .join(Child, Child.id == PreApplication.child_id).where(col(PreApplication.id).in_(chunk))):
            people[case_id] = (family, child)
        for doc in session.exec(select(CaseDocument).where(col(CaseDocument.case_id).in_(chunk))
                                .order_by(CaseDocument.case_id, CaseDocument.id)):
            docs[doc.case_id].append(doc)

    wb = Workbook()
    ws = wb.active
    ws.title = "预申请"
    ws.append(export.XLSX_HEADERS + EXTRA_HEADERS)
    for cell in ws[1]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, width in enumerate(export.XLSX_WIDTHS + EXTRA_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    for case in cases:
        family, child = people.get(case.id, (None, None))
        by_state: dict[str, list[str]] = {"有": [], "还没有": [], "要补": []}
        for doc in docs.get(case.id, []):
            by_state["要补" if doc.requested else ("有" if doc.have else "还没有")].append(doc.name)
        record = describe_case(case)
        row = [case.reference, case.status.value, "是" if case.urgent else "", case.place or "（未识别）",
               export._local(case.created_at), family.applicant_name if family else "",
               family.relation if family else "", family.phone_masked if family else "",
               child.name if child else "", child.id_masked if child else "",
               "、".join(c for c in (case.categories or "").split("/") if c),
               "、".join(by_state["有"]), "、".join(by_state["还没有"]), "、".join(by_state["要补"]),
               case.department or "", case.reason or "", case.kb_version,
               urgent_reason(record) if case.urgent else "", answers_text(record)]
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):  # a typed "=…" stays text
                cell.data_type = "s"
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    if cases:
        ws.auto_filter.ref = ws.dimensions
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
