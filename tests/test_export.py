"""Exports for the office (casework/export.py): the XLSX case list and the DOCX 预申请登记表."""

import datetime as dt
import zipfile

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import Session
from stdnum.cn import ric

from casework.export import XLSX_HEADERS, export_docx, export_xlsx
from casework.service import CaseService
from conversation.idcard import check_id, mask_id, mask_phone
from conversation.model import Who
from screening.engine import screen
from storage import repo
from storage.db import make_engine
from storage.models import Role, Status

WENLING_FACTS = {"region": "温岭市", "child": {"age": 9, "hukou_local": True, "living": "relatives",
                                            "school_stage": "primary"},
                 "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
QIJIANG_FACTS = {"region": "綦江", "child": {"age": 12, "hukou_local": True}, "household": {"dibao": True}}


def make_id(area: str, age: int, seq: str = "123") -> str:
    """A 身份证 number that passes the checksum, for a child `age` years old today (born 1 January)."""
    body = f"{area}{dt.date.today().year - age}0101{seq}"
    number = body + ric.calc_check_digit(body + "0")
    assert check_id(number)[0] == number
    return number


WENLING_ID, WENLING_PHONE = make_id("331081", 9), "13812345678"
QIJIANG_ID, QIJIANG_PHONE = make_id("500222", 12, "456"), "15987654321"


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.delenv("TONGZHU_ENV", raising=False)
    monkeypatch.delenv("TONGZHU_DATA_KEY", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'export.db'}")
    yield engine
    engine.dispose()


def file_case(engine, *, user_key, facts, identity, docs, urgent=False, acting="self"):
    result = screen(facts)
    state = {"identity": identity, "docs": docs, "acting": acting, "nonce": user_key[-6:], "urgent": urgent,
             "danger": []}
    with Session(engine) as s:
        case, _ = CaseService(engine=engine).bind(s).file_case(who=Who(user_key), state=state, facts=facts,
                                                               result=result)
        s.commit()
    return case["reference"], result


@pytest.fixture
def two_cases(engine):
    wenling, wenling_result = file_case(engine, user_key="tg:1001", facts=WENLING_FACTS, docs={"0": True, "1": False},
                                        identity={"applicant_name": "王秀英", "relation": "祖父母",
                                                  "phone": WENLING_PHONE, "child_name": "王小明",
                                                  "child_id": WENLING_ID,
                                                  "address": "温岭市城东街道<某某>村 & 三组"})
    qijiang, _ = file_case(engine, user_key="tg:1002", facts=QIJIANG_FACTS, docs={}, urgent=True, acting="family",
                           identity={"applicant_name": "=HYPERLINK(\"http://x\")", "relation": "母亲",
                                     "phone": QIJIANG_PHONE, "child_name": "李小红", "child_id": QIJIANG_ID,
                                     "address": "重庆市綦江区古南街道某社区"})
    with Session(engine) as s:  # the office asks for one document, then changes the status
        staff = repo.set_role(s, user_key="tg:9", role=Role.staff, region="浙江省台州市温岭市")
        staff.display_name = "张老师"
        case = repo.case_by_ref(s, reference=wenling)
        docs = repo.documents_of(s, case=case)
        docs[-1].requested = True
        s.add(docs[-1])
        repo.change_status(s, case=case, to=Status.needs_documents, by=staff, reason="请补交死亡证明",
                           department="城东街道民政办")
        s.commit()
    return {"wenling": wenling, "qijiang": qijiang, "wenling_result": wenling_result}


def rows_of(path):
    wb = load_workbook(path)
    ws = wb["预申请"]
    return ws, [[c.value for c in row] for row in ws.iter_rows()]


def all_cell_text(ws):
    return "\n".join("" if c.value is None else str(c.value) for row in ws.iter_rows() for c in row)


# ---------------------------------------------------------------- XLSX

def test_xlsx_of_an_empty_database_is_the_header_row(engine, tmp_path):
    out = tmp_path / "empty.xlsx"
    with Session(engine) as s:
        assert export_xlsx(s, region_lineage=None, out=out) == 0
    ws, rows = rows_of(out)
    assert rows == [XLSX_HEADERS]
    assert ws.max_row == 1


def test_xlsx_one_row_per_case_with_masked_numbers(engine, two_cases, tmp_path):
    out = tmp_path / "all.xlsx"
    with Session(engine) as s:
        assert export_xlsx(s, region_lineage=None, out=out) == 2
    ws, rows = rows_of(out)
    assert rows[0] == XLSX_HEADERS
    by_ref = {r[0]: dict(zip(XLSX_HEADERS, r)) for r in rows[1:]}
    assert set(by_ref) == {two_cases["wenling"], two_cases["qijiang"]}

    w = by_ref[two_cases["wenling"]]
    assert w["状态"] == "需补充材料" and w["紧急"] in (None, "")
    assert w["地区"] == "浙江省台州市温岭市"
    assert w["申请人"] == "王秀英" and w["关系"] == "祖父母" and w["孩子姓名"] == "王小明"
    assert w["手机"] == mask_phone(WENLING_PHONE) == "138****5678"
    assert w["身份证"] == mask_id(WENLING_ID) and "*" in w["身份证"]
    assert "孤儿" in w["类别"]
    documents = two_cases["wenling_result"]["documents"]
    assert documents[0]["name"] in w["材料：有"]
    assert documents[1]["name"] in w["材料：还没有"]
    assert documents[-1]["name"] in w["材料：要补"]
    assert w["部门"] == "城东街道民政办" and w["理由"] == "请补交死亡证明"
    assert w["知识库版本"] == two_cases["wenling_result"]["kb_version"]
    assert dt.datetime.strptime(w["提交时间"], "%Y-%m-%d %H:%M")

    q = by_ref[two_cases["qijiang"]]
    assert q["紧急"] == "是" and q["状态"] == "已提交" and q["地区"] == "重庆市綦江区"
    assert q["身份证"] == mask_id(QIJIANG_ID) and q["手机"] == "159****4321"
    # a name typed as a formula stays text
    cell = next(c for c in ws["F"] if c.value and str(c.value).startswith("="))
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(\"http://x\")"

    text = all_cell_text(ws)
    for clear in (WENLING_ID, QIJIANG_ID, WENLING_PHONE, QIJIANG_PHONE, WENLING_ID[6:14], WENLING_PHONE[3:7]):
        assert clear not in text
    with zipfile.ZipFile(out) as z:  # nowhere in the file either (shared strings, properties…)
        blob = b"".join(z.read(n) for n in z.namelist())
    for clear in (WENLING_ID, QIJIANG_ID, WENLING_PHONE, QIJIANG_PHONE):
        assert clear.encode() not in blob


@pytest.mark.parametrize("region, expected", [
    (["浙江省台州市温岭市"], {"wenling"}),
    (["重庆市綦江区"], {"qijiang"}),
    (["重庆市"], {"qijiang"}),  # a city's staff see the districts under it
    (["重庆市綦江区", "浙江省台州市温岭市"], {"wenling", "qijiang"}),
    (["吉林省通化市"], set()),
    ([], set()),
    (["綦江"], set()),  # names are whole place nodes, not substrings
])
def test_xlsx_region_filter(engine, two_cases, tmp_path, region, expected):
    out = tmp_path / "region.xlsx"
    with Session(engine) as s:
        assert export_xlsx(s, region_lineage=region, out=out) == len(expected)
    _, rows = rows_of(out)
    assert rows[0] == XLSX_HEADERS
    assert {r[0] for r in rows[1:]} == {two_cases[k] for k in expected}


# ---------------------------------------------------------------- DOCX

def docx_text(path):
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts), doc


def test_docx_registration_form(engine, two_cases, tmp_path):
    out = tmp_path / "case.docx"
    with Session(engine) as s:
        assert export_docx(s, reference=two_cases["wenling"], out=out) == out
    text, doc = docx_text(out)
    assert "预申请登记表" in text
    assert two_cases["wenling"] in text
    assert mask_id(WENLING_ID) in text and WENLING_ID not in text
    assert "138****5678" in text and WENLING_PHONE not in text
    for word in ("王秀英", "祖父母", "王小明", "温岭市城东街道<某某>村 & 三组", "浙江省台州市温岭市",
                 "孤儿", "温市委办发〔2023〕24号", "经办人签字", "日期", "需补充材料", "请补交死亡证明",
                 "工作人员 张老师", "家属", "最近的说明：请补交死亡证明"):
        assert word in text, word
    assert "{{" not in text and "{%" not in text
    # the documents checklist: a table whose rows are the case's documents with 有 / 还没有 / 要补
    documents = two_cases["wenling_result"]["documents"]
    checklist = next(t for t in doc.tables if t.rows[0].cells[1].text == "材料")
    body = [[c.text for c in r.cells] for r in checklist.rows[1:]]
    assert [r[1] for r in body] == [d["name"] for d in documents]
    assert body[0][3] == "有" and body[1][3] == "还没有" and body[-1][3] == "要补"
    # the status history: filed, then 需补充材料
    history = next(t for t in doc.tables if t.rows[0].cells[0].text == "时间")
    assert [r.cells[1].text for r in history.rows[1:]] == ["已提交", "需补充材料"]
    with zipfile.ZipFile(out) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert WENLING_ID.encode() not in blob and WENLING_PHONE.encode() not in blob


def test_docx_of_a_case_filed_by_a_volunteer(engine, two_cases, tmp_path):
    out = tmp_path / "q.docx"
    with Session(engine) as s:
        export_docx(s, reference=two_cases["qijiang"].lower(), out=out)
    text, _ = docx_text(out)
    assert two_cases["qijiang"] in text and mask_id(QIJIANG_ID) in text and QIJIANG_ID not in text
    assert "=HYPERLINK" in text and "志愿者代为填写" in text and "是（请优先处理）" in text
    assert "最近的说明" not in text and "暂无初步符合的类别" not in text  # optional paragraphs left out


def test_case_built_directly_without_categories_or_documents(engine, tmp_path):
    from storage import crypto
    from storage.models import Child, Family, PreApplication

    number, phone = make_id("220502", 7), "13700001111"
    with Session(engine) as s:
        user = repo.get_or_create_user(s, user_key="console:root")
        case = repo.create_case(
            s, by=user, documents=[],
            family=Family(filer_id=user.id, applicant_name="赵六", relation="其他亲属", phone_enc=crypto.encrypt(phone),
                          phone_masked=mask_phone(phone), address="通化市东昌区某街道", consent_by="guardian"),
            child=Child(family_id=0, name="赵小", id_enc=crypto.encrypt(number), id_masked=mask_id(number),
                        id_hash=crypto.lookup_hash(number)),
            case=PreApplication(reference=repo.new_reference(s), family_id=0, child_id=0, filer_id=user.id,
                                region_input="通化", place=None, place_lineage="/", facts_json="{}",
                                result_json="{}", kb_version="test"))
        reference = case.reference
        s.commit()
    with Session(engine) as s:
        assert export_xlsx(s, region_lineage=None, out=tmp_path / "a.xlsx") == 1
        assert export_xlsx(s, region_lineage=["吉林省通化市"], out=tmp_path / "b.xlsx") == 0  # no place matched
        export_docx(s, reference=reference, out=tmp_path / "a.docx")
    _, rows = rows_of(tmp_path / "a.xlsx")
    row = dict(zip(XLSX_HEADERS, rows[1]))
    assert row["地区"] == "通化" and row["类别"] in (None, "") and row["身份证"] == mask_id(number)
    text, doc = docx_text(tmp_path / "a.docx")
    assert "暂无初步符合的类别" in text and number not in text and phone not in text
    checklist = next(t for t in doc.tables if t.rows[0].cells[1].text == "材料")
    assert len(checklist.rows) == 1  # the header only


def test_docx_unknown_reference(engine, tmp_path):
    with Session(engine) as s, pytest.raises(LookupError, match="TZ20990101-000000"):
        export_docx(s, reference="TZ20990101-000000", out=tmp_path / "x.docx")
    assert not (tmp_path / "x.docx").exists()
