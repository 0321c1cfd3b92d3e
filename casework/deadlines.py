"""Working days: a procedure's time limit ("15个工作日") counted Monday to Friday.

Public holidays and 调休 working weekends are not known here: a limit may fall a day or two early
around 春节 or 国庆, which errs on the side of looking at a case sooner."""

from __future__ import annotations

import datetime as dt
from typing import Any

import clock

DEFAULT_LIMIT = 15


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """`days` working days after `start`, counted on China's calendar (a case filed at 04:00 on a
    Monday in China, Sunday evening in UTC, is a Monday's); the same instant back in UTC (naive in,
    naive out: SQLite's naive moments are UTC)."""
    aware = start.tzinfo is not None
    moment, left = (start if aware else start.replace(tzinfo=dt.timezone.utc)).astimezone(clock.BEIJING), days
    while left > 0:
        moment += dt.timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    moment = moment.astimezone(dt.timezone.utc)
    return moment if aware else moment.replace(tzinfo=None)


def office_limit(result: dict[str, Any] | None, default: int = DEFAULT_LIMIT) -> int:
    """The working days the receiving office has for its own step: the first step with a limit in the
    first procedure the knowledge base gives (e.g. 乡镇 查验 within 15 working days)."""
    for procedure in (result or {}).get("procedure") or []:
        for step in procedure.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("working_days"), int):
                return step["working_days"]
        break
    return default
