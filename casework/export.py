"""Exports for the office: the case list as XLSX, one case's 预申请登记表 as DOCX.

Identity and phone numbers appear only masked (the `*_masked` columns): nothing here decrypts.
`region_lineage` limits the list the same way the staff queue does: a case is in when its
place_lineage ("/重庆市/重庆市綦江区/") holds "/<name>/" for one of the names; None means all cases
(admins).  Times are shown in Beijing time (UTC+8), the office's clock.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from copy import copy
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

import clock
from casework.record import answers_text, describe_record, record_context, urgent_reason
from storage import repo
from storage.models import CaseDocument, Child, Family, PreApplication, Role, User


XLSX_HEADERS = ["编号", "状态", "紧急", "地区", "提交时间", "申请人", "关系", "手机", "孩子姓名", "身份证",
                "类别", "材料：有", "材料：还没有", "材料：要补", "部门", "理由", "知识库版本", "紧急原因", "家属的回答"]
XLSX_WIDTHS = [20, 10, 6, 24, 17, 10, 8, 14, 10, 21, 30, 36, 36, 24, 18, 30, 14, 40, 60]

ROLE_LABELS = {Role.guardian: "家属", Role.volunteer: "志愿者", Role.staff: "工作人员", Role.admin: "管理员"}


def template_path() -> Path:
    """templates/docx/registration.docx (made by templates/docx/make_template.py)."""
    return Path(str(resources.files("templates") / "docx" / "registration.docx"))


# ---------------------------------------------------------------- shared

def _result(case: PreApplication) -> dict[str, Any]:
    try:
        result = json.loads(case.result_json or "{}")
    except ValueError:
        return {}
    return result if isinstance(result, dict) else {}


def _category_names(result: dict[str, Any]) -> list[str]:
    return [c.get("name", "") for c in result.get("categories") or [] if isinstance(c, dict)]


def _doc_state(doc: CaseDocument) -> str:
    """要补 when the office asked for it, else 有 / 还没有 as the family ticked it."""
    if doc.requested:
        return "要补"
    return "有" if doc.have else "还没有"


def _where_region(stmt, region_lineage: list[str] | None):
    """Only the cases under one of the place names (None: all); → None when no name is given."""
    if region_lineage is None:
        return stmt
    names = [n for n in region_lineage if n]
    if not names:
        return None
    return stmt.where(repo.under_places(names))


@lru_cache(maxsize=512)
def _categories_of(result_json: str) -> str:
    """The category names of a stored result, joined; cached, since many cases share one result."""
    try:
        result = json.loads(result_json or "{}")
    except ValueError:
        return ""
    return "、".join(_category_names(result)) if isinstance(result, dict) else ""


# ---------------------------------------------------------------- XLSX

_CASE_COLUMNS = (PreApplication.id, PreApplication.reference, PreApplication.status, PreApplication.urgent,
                 PreApplication.place, PreApplication.region_input, PreApplication.created_at,
                 PreApplication.result_json, PreApplication.department, PreApplication.reason,
                 PreApplication.kb_version, Family.applicant_name, Family.relation, Family.phone_masked,
                 Child.name.label("child_name"), Child.id_masked, PreApplication.answers_json,
                 PreApplication.facts_json)
_STREAM = {"yield_per": 1000}  # rows come in batches (a server-side cursor on PostgreSQL): constant memory


def case_rows(session: Session, *, region_lineage: list[str] | None,
              only=None) -> Iterator[tuple[Any, dict[str, list[str]]]]:  # noqa: ANN001
    """Each case in the region (oldest first) as a row of _CASE_COLUMNS with its documents by state
    ({"有": [...], "还没有": [...], "要补": [...]}): two streamed queries whatever the number of cases.
    `only`, a SELECT of PreApplication.id, narrows the list (the desk's filters)."""
    order = (PreApplication.created_at, PreApplication.id)
    cases = _where_region(select(*_CASE_COLUMNS).select_from(PreApplication)
                          .outerjoin(Family, Family.id == PreApplication.family_id)
                          .outerjoin(Child, Child.id == PreApplication.child_id), region_lineage)
    docs = _where_region(select(PreApplication.created_at, CaseDocument.case_id, CaseDocument.name,
                                CaseDocument.have, CaseDocument.requested)
                         .join(PreApplication, PreApplication.id == CaseDocument.case_id), region_lineage)
    if cases is None:
        return
    if only is not None:
        cases, docs = cases.where(col(PreApplication.id).in_(only)), docs.where(col(PreApplication.id).in_(only))
    case_iter = session.execute(cases.order_by(*order).execution_options(**_STREAM))
    doc_iter = iter(session.execute(docs.order_by(*order, CaseDocument.id).execution_options(**_STREAM)))
    doc = next(doc_iter, None)
    for row in case_iter:
        by_state: dict[str, list[str]] = {"有": [], "还没有": [], "要补": []}
        # Both streams are in case order. Documents of a case filed between the two statements
        # (not in this list) are skipped; the case's own are taken.
        while doc is not None and (doc.created_at, doc.case_id) < (row.created_at, row.id):
            doc = next(doc_iter, None)
        while doc is not None and doc.case_id == row.id:
            by_state["要补" if doc.requested else ("有" if doc.have else "还没有")].append(doc.name)
            doc = next(doc_iter, None)
        yield row, by_state


def _row_values(row: Any, docs: dict[str, list[str]]) -> list[Any]:
    return [row.reference, row.status.value, "是" if row.urgent else "", row.place or row.region_input,
            clock.local(row.created_at), row.applicant_name or "", row.relation or "", row.phone_masked or "",
            row.child_name or "", row.id_masked or "", _categories_of(row.result_json),
            "、".join(docs["有"]), "、".join(docs["还没有"]), "、".join(docs["要补"]),
            row.department or "", row.reason or "", row.kb_version, *record_columns(row)]


def record_columns(row: Any) -> list[str]:
    """Why the family may qualify, in their words: the urgent reason and the answers (casework/record.py)."""
    record = describe_record(row.answers_json, row.facts_json)
    return [urgent_reason(record) if row.urgent else "", answers_text(record)]


def export_xlsx(session: Session, *, region_lineage: list[str] | None, out: Path, only=None) -> int:  # noqa: ANN001
    """Write one row per case to `out` (header row only when there are none); → the number of cases.

    Streamed: openpyxl's write-only workbook writes each row as it comes from the database, so
    memory stays flat whatever the number of cases; two SQL statements whatever the number of cases."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("预申请")
    for i, width in enumerate(XLSX_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"

    header = []
    for name in XLSX_HEADERS:
        cell = WriteOnlyCell(ws, value=name)
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(vertical="center")
        header.append(cell)
    ws.append(header)

    wrap = WriteOnlyCell(ws)
    wrap.alignment = Alignment(vertical="top", wrap_text=True)
    style = wrap._style  # the style's index array: copied into each cell, not looked up again per cell

    n = 0
    for row, docs in case_rows(session, region_lineage=region_lineage, only=only):
        cells = []
        for value in _row_values(row, docs):
            cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)
            if cell.data_type == "f":  # a name typed as "=HYPERLINK(…)" stays text, not a formula
                cell.data_type = "s"
            cell._style = copy(style)
            cells.append(cell)
        ws.append(cells)
        n += 1
    if n:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(XLSX_HEADERS))}{n + 1}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return n


def xlsx_bytes(session: Session, *, region_lineage: list[str] | None, only=None) -> bytes:  # noqa: ANN001
    """export_xlsx as the bytes of the file (the desk's download, the Telegram desk's /export).
    Give it a `storage.db.reading` session: it reads every case of the place."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.xlsx"
        export_xlsx(session, region_lineage=region_lineage, out=out, only=only)
        return out.read_bytes()


# ---------------------------------------------------------------- DOCX

def _source_text(source: dict[str, Any] | None, fallback: str = "") -> str:
    if not source:
        return fallback
    document, clause = source.get("document") or fallback, source.get("clause") or ""
    return f"{document}（{clause}）" if clause else document


def _who(user: User | None) -> str:
    if user is None:
        return ""
    label = ROLE_LABELS.get(user.role, "")
    if user.role in (Role.staff, Role.admin) and user.display_name:
        return f"{label} {user.display_name}"
    return label


def registration_context(session: Session, *, case: PreApplication) -> dict[str, Any]:
    """What the 预申请登记表 shows: masked numbers only. Three statements: the family and child, the
    documents, the history with who made each change."""
    family, child = repo.family_and_child(session, case=case)
    result = _result(case)
    categories = [{"name": c.get("name", ""), "note": "",
                   "source": _source_text(c.get("source"), c.get("document", ""))}
                  for c in result.get("categories") or [] if isinstance(c, dict)]
    categories += [{"name": c.get("name", ""), "note": "（可能，需核实）",
                    "source": _source_text(c.get("source"), c.get("document", ""))}
                   for c in result.get("possible_categories") or [] if isinstance(c, dict)]
    documents = [{"n": i + 1, "name": d.name, "detail": d.detail or "", "state": _doc_state(d)}
                 for i, d in enumerate(repo.documents_of(session, case=case))]
    history = [{"at": clock.local(h.at), "status": h.to_status.value,
                "from": h.from_status.value if h.from_status else "", "by": _who(by),
                "reason": h.reason or ""}
               for h, by in repo.history_with_authors(session, case=case)]
    return {
        "reference": case.reference,
        "date": clock.local(case.created_at, "%Y年%m月%d日"),
        "printed": clock.now().strftime("%Y年%m月%d日"),
        "status": case.status.value,
        "urgent": "是（请优先处理）" if case.urgent else "否",
        "duplicate_of": case.duplicate_of or "",
        "applicant": family.applicant_name if family else "",
        "relation": family.relation if family else "",
        "phone": family.phone_masked if family else "",
        "consent": ("志愿者代为填写，家属当面同意" if family and family.consent_by == "volunteer_for_guardian"
                    else "监护人本人同意") if family else "",
        "child_name": child.name if child else "",
        "child_id": child.id_masked if child else "",
        "address": family.address if family else "",
        "place": case.place or case.region_input,
        "region_input": case.region_input,
        "categories": categories,
        "documents": documents,
        "history": history,
        "department": case.department or "",
        "reason": case.reason or "",
        "kb_version": case.kb_version,
        **record_context(case, clock.local),  # the family's answers in words, the urgent reason (desk)
    }


def export_docx(session: Session, *, reference: str, out: Path) -> Path:
    """Render the 预申请登记表 of one case to `out`; LookupError when no case has that reference."""
    from docxtpl import DocxTemplate

    case = repo.case_by_ref(session, reference=(reference or "").strip().upper())
    if case is None:
        raise LookupError(f"没有编号为 {reference} 的预申请 (no pre-application with reference {reference!r})")
    tpl = DocxTemplate(str(template_path()))
    tpl.render(registration_context(session, case=case), autoescape=True)  # names may hold < & >
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tpl.save(str(out))
    return out


__all__ = ["export_xlsx", "xlsx_bytes", "export_docx", "registration_context", "template_path", "XLSX_HEADERS"]
