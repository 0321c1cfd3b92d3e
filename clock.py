"""China's clock.  The dates a family or the office reads — a reference number's date, a child's age,
"today" on a form, a file's name — are China Standard Time (UTC+8, no daylight saving), whatever the
server's own zone: a family filing at 7 in the morning in Wenling files on that day, not on the day
before in UTC.  Stored moments stay in UTC (storage/models.py `utcnow`)."""

from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")


def now() -> dt.datetime:
    """This moment on China's clock."""
    return dt.datetime.now(BEIJING)


def today() -> dt.date:
    """Today's date in China."""
    return now().date()


def local(moment: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (UTC; naive means UTC, as SQLite gives it back; or its ISO text) as China's
    clock shows it; "" for none, and text that is not a moment as it is."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(BEIJING).strftime(fmt)
