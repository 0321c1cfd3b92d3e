"""Input hygiene shared by every adapter: control characters out of any text we are given."""

from __future__ import annotations

import re

# C0 controls except tab and line breaks, DEL, C1 controls, and the Unicode line/paragraph
# separators and bidi overrides that can disguise text; lone surrogates (not encodable) too.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(text: str | None) -> str:
    """The text without NUL and other control characters (tabs and line breaks are kept)."""
    if not text:
        return ""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
