"""公民身份号码 (GB 11643-1999): length, characters, checksum, a real past birth date.

python-stdnum does the checksum and the date; its area-code lookup is left out on purpose: codes
are fixed at birth registration and retired ones (綦江's 500222, 万盛's 500110 before 2011) stay valid
(../shared/spec/national-baseline.md).
"""

from __future__ import annotations

import datetime as dt

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

import clock


def check_id(number: str, *, today: dt.date | None = None) -> tuple[str | None, dt.date | None, str | None]:
    """→ (the compact number, birth date, None) or (None, None, the reason as a template key)."""
    today = today or clock.today()
    number = ric.compact(number or "").upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return None, None, "id_format"
    if number[17] != ric.calc_check_digit(number):
        return None, None, "id_checksum"
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        return None, None, "id_date"
    if birth > today:
        return None, None, "id_date"
    return number, birth, None


def age_on(birth: dt.date, today: dt.date | None = None) -> int:
    today = today or clock.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def mask_id(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_phone(number: str) -> str:
    return number[:3] + "****" + number[-4:] if len(number) == 11 else "*" * len(number)
