"""Free-text answers: ages ("8岁", "八岁", "2018年5月"), durations ("2年", "一年半", "8个月",
"半年多"), disability ("二级 肢体", "没有")."""

from __future__ import annotations

import datetime as dt
import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}
KINDS = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")


def chinese_number(text: str) -> int | None:
    """一 … 九十九 (and arabic digits)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        t = _DIGITS[tens] if tens else 1
        o = _DIGITS[ones] if ones else 0
        return t * 10 + o
    if len(text) == 1:
        return _DIGITS[text]
    return None


_NUM = r"(\d+|[零〇一二两三四五六七八九十]+)"


def parse_age(text: str, today: dt.date | None = None) -> int | None:
    text = text.strip().replace("周岁", "岁").replace(" ", "")
    today = today or dt.date.today()
    m = re.fullmatch(r"(\d{4})年(?:(\d{1,2})月)?(?:\d{1,2}日)?(?:出生|生)?", text) or re.fullmatch(
        r"(\d{4})[-./](\d{1,2})(?:[-./]\d{1,2})?", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2) or 1)
        if not 1 <= month <= 12 or year > today.year:
            return None
        age = today.year - year - ((today.month, 1) < (month, 1))
        return age if 0 <= age <= 30 else None
    m = re.fullmatch(_NUM + r"(?:岁|歲)?(?:半|多)?", text)
    if m:
        value = chinese_number(m.group(1))
        return value if value is not None and 0 <= value <= 30 else None
    m = re.fullmatch(_NUM + r"个?月(?:大)?", text)
    if m:
        value = chinese_number(m.group(1))
        return 0 if value is not None and value < 12 else None
    return None


def parse_months(text: str) -> int | None:
    text = text.strip().replace(" ", "").replace("还有", "").replace("还剩", "").replace("大概", "")
    text = text.replace("左右", "")
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
    text = text.strip()
    if text in ("没有", "无", "没有残疾", "不是", "否"):
        return None
    grade = None
    m = re.search(r"([1-4一二三四])级", text)
    if m:
        grade = chinese_number(m.group(1))
    kind = next((k for k in KINDS if k in text), None)
    if grade is None or kind is None:
        return False
    return {"grade": grade, "kind": kind}
