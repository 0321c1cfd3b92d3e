"""How long data is kept: unfinished conversations are deleted after TONGZHU_SESSION_DAYS days
(default 30); filed pre-applications stay with the office (docs/data-policy.md)."""

from __future__ import annotations

import os


def session_days() -> int:
    return int(os.environ.get("TONGZHU_SESSION_DAYS", "30"))
