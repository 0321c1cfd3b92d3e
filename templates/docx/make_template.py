"""Make templates/docx/registration.docx, the docxtpl template of the printable 预申请登记表.

    .venv/bin/python templates/docx/make_template.py      (rewrites registration.docx beside this file)

Edit this script, not the .docx, and commit both.  The Jinja tags are filled by
casework/export.py:export_docx (context: registration_context).  Table rows that repeat use
docxtpl's `{%tr for … %}` / `{%tr endfor %}` rows, and optional paragraphs `{%p if … %}` /
`{%p endif %}` paragraphs, which docxtpl removes when rendering.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

OUT = Path(__file__).resolve().with_name("registration.docx")
FONT = "SimSun"  # 宋体; Word substitutes a CJK font where it is missing


def _set_font(style, size: float, bold: bool = False) -> None:  # noqa: ANN001
    style.font.name = FONT
    style.font.size = Pt(size)
    style.font.bold = bold
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)


def _cell(cell, text: str, bold: bool = False) -> None:  # noqa: ANN001
    cell.text = ""
    run = cell.paragraphs[0].add_run(text)
    run.bold = bold


def _table(doc, headers: list[str], row: list[str], loop: str, widths: list[float]):  # noqa: ANN001
    """A header row, then `{%tr for … %}`, one row of fields, `{%tr endfor %}`."""
    table = doc.add_table(rows=4, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, h in enumerate(headers):
        _cell(table.rows[0].cells[i], h, bold=True)
    _cell(table.rows[1].cells[0], "{%tr " + loop + " %}")
    for i, field in enumerate(row):
        _cell(table.rows[2].cells[i], field)
    _cell(table.rows[3].cells[0], "{%tr endfor %}")
    for r in table.rows:
        for i, w in enumerate(widths):
            r.cells[i].width = Cm(w)
    return table


def heading(doc, text: str) -> None:  # noqa: ANN001
    p = doc.add_paragraph(style="Heading 2")
    p.add_run(text)


def build() -> Document:
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)  # A4
    section.left_margin = section.right_margin = Cm(2)
    section.top_margin = section.bottom_margin = Cm(2)

    _set_font(doc.styles["Normal"], 11)
    _set_font(doc.styles["Title"], 20, bold=True)
    _set_font(doc.styles["Heading 2"], 13, bold=True)
    for name in ("Title", "Heading 2"):
        doc.styles[name].font.color.rgb = None

    core = doc.core_properties
    core.title, core.author, core.comments = "预申请登记表", "童助", "docxtpl template: templates/docx/make_template.py"
    core.created = core.modified = dt.datetime(2026, 1, 1)

    title = doc.add_paragraph(style="Title")
    title.add_run("预申请登记表")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER

    p = doc.add_paragraph()
    p.add_run("编号：").bold = True
    p.add_run("{{ reference }}")
    p.add_run("        提交日期：").bold = True
    p.add_run("{{ date }}")
    p.add_run("        打印日期：").bold = True
    p.add_run("{{ printed }}")

    heading(doc, "一、申请人和孩子")
    rows = [("申请人", "{{ applicant }}", "与孩子关系", "{{ relation }}"),
            ("联系电话", "{{ phone }}", "同意方式", "{{ consent }}"),
            ("孩子姓名", "{{ child_name }}", "公民身份号码", "{{ child_id }}"),
            ("家庭住址", "{{ address }}", "", ""),
            ("所在地区", "{{ place }}", "家属填写的地区", "{{ region_input }}"),
            ("当前状态", "{{ status }}", "紧急", "{{ urgent }}"),
            ("可能重复的预申请", "{{ duplicate_of }}", "转办部门", "{{ department }}")]
    table = doc.add_table(rows=len(rows), cols=4)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, values in zip(table.rows, rows):
        for i, value in enumerate(values):
            _cell(r.cells[i], value, bold=i % 2 == 0)
        for i, w in enumerate((3.2, 5.3, 3.2, 5.3)):
            r.cells[i].width = Cm(w)
    address = table.rows[3]
    address.cells[1].merge(address.cells[3])
    _cell(address.cells[1], "{{ address }}")

    doc.add_paragraph("{%p if urgent_reason %}")
    urgent = doc.add_paragraph()
    urgent.add_run("紧急原因：").bold = True
    urgent.add_run("{{ urgent_reason }}")
    doc.add_paragraph("{%p endif %}")

    heading(doc, "二、家属的回答（原话）")
    doc.add_paragraph("回答人：{{ answered_by }}")
    _table(doc, ["问题", "家属的回答", "时间"], ["{{ a.question }}", "{{ a.answer }}", "{{ a.at }}"],
           "for a in answers", [4.5, 9.5, 3])
    doc.add_paragraph("{%p for t in told %}")
    doc.add_paragraph("家属讲述：“{{ t }}”")
    doc.add_paragraph("{%p endfor %}")

    heading(doc, "三、可能符合的保障类别（初步判断，以民政部门认定为准）")
    _table(doc, ["类别", "政策依据（文件、条款）"], ["{{ c.name }}{{ c.note }}", "{{ c.source }}"],
           "for c in categories", [6, 11])
    doc.add_paragraph("{%p if not categories %}")
    doc.add_paragraph("（暂无初步符合的类别，请工作人员核实）")
    doc.add_paragraph("{%p endif %}")

    heading(doc, "四、材料清单")
    _table(doc, ["序号", "材料", "说明", "情况"], ["{{ d.n }}", "{{ d.name }}", "{{ d.detail }}", "{{ d.state }}"],
           "for d in documents", [1.2, 5, 8.8, 2])
    doc.add_paragraph("“有”“还没有”为家属自己勾选；“要补”为工作人员已通知补交。")

    heading(doc, "五、办理记录")
    _table(doc, ["时间", "状态", "办理人", "说明"], ["{{ h.at }}", "{{ h.status }}", "{{ h.by }}", "{{ h.reason }}"],
           "for h in history", [3.6, 3, 3.4, 7])
    doc.add_paragraph("{%p if reason %}")
    doc.add_paragraph("最近的说明：{{ reason }}")
    doc.add_paragraph("{%p endif %}")

    heading(doc, "六、民政办受理")
    doc.add_paragraph("受理意见：" + "_" * 52)
    doc.add_paragraph("_" * 62)
    sign = doc.add_paragraph()
    sign.add_run("经办人签字：").bold = True
    sign.add_run("____________________")
    sign.add_run("        日期：").bold = True
    sign.add_run("______年____月____日")
    doc.add_paragraph("（单位盖章）").alignment = WD_ALIGN_PARAGRAPH.RIGHT

    note = doc.add_paragraph()
    note.add_run("本表由童助根据家属在聊天中填写的信息生成，仅作预申请登记；身份证号和电话已遮挡，核对请看原件。"
                 "知识库版本：{{ kb_version }}。").font.size = Pt(9)
    return doc


def main(out: Path = OUT) -> Path:
    build().save(str(out))
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
