"""Exports for the office: the case list as XLSX, one case's 预申请登记表 as DOCX.

Identity and phone numbers appear only masked (the `*_masked` columns): nothing here decrypts.
`region_lineage` limits the list the same way the staff queue does: a case is in when its
place_lineage ("/重庆市/重庆市綦江区/") holds "/<name>/" for one of the names; None means all cases
(admins).  Times are shown in Beijing time (UTC+8), the office's clock.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage import repo
from storage.models import CaseDocument, Child, Family, PreApplication, Role, User

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")

XLSX_HEADERS = ["编号", "状态", "紧急", "地区", "提交时间", "申请人", "关系", "手机", "孩子姓名", "身份证",
                "类别", "材料：有", "材料：还没有", "材料：要补", "部门", "理由", "知识库版本"]
XLSX_WIDTHS = [20, 10, 6, 24, 17, 10, 8, 14, 10, 21, 30, 36, 36, 24, 18, 30, 14]

ROLE_LABELS = {Role.guardian: "家属", Role.volunteer: "志愿者", Role.staff: "工作人员", Role.admin: "管理员"}


def template_path() -> Path:
    """templates/docx/registration.docx (made by templates/docx/make_template.py)."""
    return Path(str(resources.files("templates") / "docx" / "registration.docx"))


# ---------------------------------------------------------------- shared

def _local(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:  # stored as UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(BEIJING).strftime(fmt)


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


def _cases(session: Session, region_lineage: list[str] | None) -> list[PreApplication]:
    stmt = select(PreApplication)
    if region_lineage is not None:
        names = [n for n in region_lineage if n]
        if not names:
            return []
        stmt = stmt.where(or_(*[col(PreApplication.place_lineage).contains(f"/{n}/", autoescape=True)
                                for n in names]))
    return list(session.exec(stmt.order_by(PreApplication.created_at, PreApplication.id)))


def _documents_by_case(session: Session, case_ids: list[int]) -> dict[int, list[CaseDocument]]:
    out: dict[int, list[CaseDocument]] = {i: [] for i in case_ids}
    for start in range(0, len(case_ids), 500):  # stay far below SQLite's bound-parameter limit
        chunk = case_ids[start:start + 500]
        for doc in session.exec(select(CaseDocument).where(col(CaseDocument.case_id).in_(chunk))
                                .order_by(CaseDocument.case_id, CaseDocument.id)):
            out[doc.case_id].append(doc)
    return out


# ---------------------------------------------------------------- XLSX

def _cell_text(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def export_xlsx(session: Session, *, region_lineage: list[str] | None, out: Path) -> int:
    """Write one row per case to `out` (header row only when there are none); → the number of cases."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    cases = _cases(session, region_lineage)
    documents = _documents_by_case(session, [c.id for c in cases])

    wb = Workbook()
    ws = wb.active
    ws.title = "预申请"
    ws.append(XLSX_HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(vertical="center")
    for i, width in enumerate(XLSX_WIDTHS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"

    for case in cases:
        family, child = session.get(Family, case.family_id), session.get(Child, case.child_id)
        result = _result(case)
        docs = documents.get(case.id, [])
        by_state: dict[str, list[str]] = {"有": [], "还没有": [], "要补": []}
        for doc in docs:
            by_state[_doc_state(doc)].append(doc.name)
        row = [case.reference, case.status.value, "是" if case.urgent else "", case.place or case.region_input,
               _local(case.created_at), family.applicant_name if family else "", family.relation if family else "",
               family.phone_masked if family else "", child.name if child else "",
               child.id_masked if child else "", "、".join(_category_names(result)),
               "、".join(by_state["有"]), "、".join(by_state["还没有"]), "、".join(by_state["要补"]),
               case.department or "", case.reason or "", case.kb_version]
        ws.append([_cell_text(v) for v in row])
        for cell in ws[ws.max_row]:
            # A name typed as "=HYPERLINK(…)" must stay text, not become a formula.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    if cases:
        ws.auto_filter.ref = ws.dimensions
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return len(cases)


# ---------------------------------------------------------------- DOCX

def _source_text(source: dict[str, Any] | None, fallback: str = "") -> str:
    if not source:
        return fallback
    document, clause = source.get("document") or fallback, source.get("clause") or ""
    return f"{document}（{clause}）" if clause else document


def _who(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        return ""
    label = ROLE_LABELS.get(user.role, "")
    if user.role in (Role.staff, Role.admin) and user.display_name:
        return f"{label} {user.display_name}"
    return label


def registration_context(session: Session, *, case: PreApplication) -> dict[str, Any]:
    """What the 预申请登记表 shows: masked numbers only."""
    family, child = session.get(Family, case.family_id), session.get(Child, case.child_id)
    result = _result(case)
    categories = [{"name": c.get("name", ""), "note": "",
                   "source": _source_text(c.get("source"), c.get("document", ""))}
                  for c in result.get("categories") or [] if isinstance(c, dict)]
    categories += [{"name": c.get("name", ""), "note": "（可能，需核实）",
                    "source": _source_text(c.get("source"), c.get("document", ""))}
                   for c in result.get("possible_categories") or [] if isinstance(c, dict)]
    documents = [{"n": i + 1, "name": d.name, "detail": d.detail or "", "state": _doc_state(d)}
                 for i, d in enumerate(repo.documents_of(session, case=case))]
    history = [{"at": _local(h.at), "status": h.to_status.value,
                "from": h.from_status.value if h.from_status else "", "by": _who(session, h.by_id),
                "reason": h.reason or ""}
               for h in repo.history_of(session, case=case)]
    return {
        "reference": case.reference,
        "date": _local(case.created_at, "%Y年%m月%d日"),
        "printed": dt.datetime.now(BEIJING).strftime("%Y年%m月%d日"),
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


__all__ = ["export_xlsx", "export_docx", "registration_context", "template_path", "XLSX_HEADERS"]
