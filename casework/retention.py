"""How long data is kept: unfinished conversations are deleted after TONGZHU_SESSION_DAYS days
(default 30); filed pre-applications stay with the office (docs/data-policy.md)."""

from __future__ import annotations

from settings import get_settings


def session_days() -> int:
    return get_settings().tongzhu_session_days
