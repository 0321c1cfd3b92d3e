"""Numbers, ages and durations as people type them: "9岁了", "今年九岁", "2018年5月", "三年半",
"还剩一年八个月", "半年多", "十个月"; disability as written on the certificate ("二级 肢体", "没有")."""

from __future__ import annotations

import datetime as dt
import re

import clock
from zhtext.normal import normalise

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}
KINDS = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
NUM = r"(?:\d+|[零〇一二两俩三四五六七八九十]+)"
_NUM = r"(\d+|[零〇一二两俩三四五六七八九十]+)"
DURATION = (r"(?:半年多?|" + NUM + r"年(?:半|多)?(?:零?" + NUM + r"个?多?月)?|" + NUM + r"个?多?月)")
# 好几年 / 这几年 / 十几年: how many is not said, but at least two years — more than any rule of the
# packs asks (6 or 12 months), so a lower bound of 24 months decides as the real number would
SEVERAL_YEARS = r"(?:好几|好多|很多|这么多|这些|这几|好些|十几|几)年"
AT_LEAST_SEVERAL_YEARS = 24
_LEAD = re.compile(r"^(我|俺|我们|俺们)?(家)?(的)?(孩子|娃娃|娃儿|娃|小孩|孙子|孙女|外孙女|外孙|儿子|女儿|闺女|宝宝|他|她)?"
                   r"(今年|现在|目前|已经|才|刚|刚刚|大概|差不多|应该|大约|有)*(满)?")
_TAIL = re.compile(r"(了|啦|的|吧|呢|啊|呀|左右|上下)+$")


def chinese_number(text: str) -> int | None:
    """一 … 九十九 (and arabic digits)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            return None
        t = _DIGITS[tens] if tens else 1
        o = _DIGITS[ones] if ones else 0
        return t * 10 + o
    if len(text) == 1:
        return _DIGITS[text]
    return None


def _core(text: str) -> str:
    text = normalise(text).strip("，,。.！!？?")
    text = _TAIL.sub("", text)
    return _LEAD.sub("", text)


def parse_age(text: str, today: dt.date | None = None) -> int | None:
    """Whole years: "9岁了" 9, "九岁半" 9, "快9岁了" 8, "2018年5月" (from today), "8个月" 0."""
    text = _core(text).replace("周岁", "岁").replace("虚岁", "")
    today = today or clock.today()
    m = re.fullmatch(r"(\d{4})年(?:(\d{1,2})月)?(?:\d{1,2}[日号])?(?:出生|生的?)?", text) or re.fullmatch(
        r"(\d{4})[-./](\d{1,2})(?:[-./]\d{1,2})?", text) or re.fullmatch(r"(\d{4})年?(?:出生|生的?)", text)
    if m:
        year = int(m.group(1))
        month = int(m.group(2)) if m.lastindex and m.lastindex >= 2 and m.group(2) else 1
        if not 1 <= month <= 12 or year > today.year:
            return None
        age = today.year - year - ((today.month, 1) < (month, 1))
        return age if 0 <= age <= 30 else None
    m = re.fullmatch(r"(快|快要|马上|将近|不到)?" + _NUM + r"(?:岁|歲)?(?:半|多)?", text)
    if m:
        value = chinese_number(m.group(2))
        if value is None:
            return None
        value -= 1 if m.group(1) and value > 0 else 0
        return value if 0 <= value <= 30 else None
    m = re.fullmatch(_NUM + r"个?多?月(?:大)?", text)
    if m:
        value = chinese_number(m.group(1))
        return 0 if value is not None and value < 12 else None
    return None


def parse_months(text: str) -> int | None:
    """Months: "2年" 24, "一年半" 18, "还剩一年八个月" 20, "半年多" 6, "三个多月" 3 (floor)."""
    text = _core(text)
    text = re.sub(r"^(还有|还剩|还要|还得|剩下|剩|还差|差不多|大概|大约|约)+", "", text)
    text = _TAIL.sub("", text.replace("左右", ""))
    if text in ("半年", "半年多"):
        return 6
    total = 0
    matched = False
    m = re.match(_NUM + r"年(半)?(多)?", text)
    if m:
        years = chinese_number(m.group(1))
        if years is None:
            return None
        total += years * 12 + (6 if m.group(2) else 0)
        text = text[m.end():]
        matched = True
    m = re.fullmatch(r"(?:零)?" + _NUM + r"个?多?月(多)?", text)
    if m:
        months = chinese_number(m.group(1))
        if months is None:
            return None
        total += months
        matched = True
    elif text:
        return None
    return total if matched and total <= 1200 else None


def parse_disability(text: str) -> dict | None | bool:
    """{"grade", "kind"} / None for "no disability" / False when not understood."""
    text = _core(text)
    if text in ("没有", "没", "无", "没有残疾", "没残疾", "不是", "否", "不残疾", "都没有", "没有残疾证", "没得", "冇"):
        return None
    grade = None
    m = re.search(r"([1-4一二三四])级", text)
    if m:
        grade = chinese_number(m.group(1))
    kind = next((k for k in KINDS if k in text), None)
    if kind is None:
        kind = {"瞎": "视力", "盲": "视力", "聋": "听力", "哑": "言语", "腿": "肢体", "脑瘫": "肢体",
                "智障": "智力", "弱智": "智力", "精神病": "精神"}.get(next((w for w in ("脑瘫", "精神病", "智障", "弱智", "瞎", "盲", "聋", "哑", "腿") if w in text), ""), None)
    if grade is None or kind is None:
        return False
    return {"grade": grade, "kind": kind}
