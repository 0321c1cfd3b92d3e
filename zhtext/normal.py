"""Normal forms: full-width → half-width (NFKC), lower case, no spaces; clauses of a message."""

from __future__ import annotations

import re
import unicodedata

CLAUSE_SPLIT = re.compile(r"[，。；！？,.;!?、\n…~～]+|但是|可是|不过|而且|然后")
TRAILING = re.compile(r"[。.!！~～呀啊呢吧啦了哈的嘛]+$")


def normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").lower().split())


def clauses(text: str) -> list[str]:
    """The clauses of a message: split at punctuation and at 但是/可是/而且 …"""
    return [c for c in CLAUSE_SPLIT.split(unicodedata.normalize("NFKC", text).lower()) if c.strip()]


def bare(text: str) -> str:
    """The text normalised and without the particles people end a short answer with ("对的啊" → "对")."""
    text = normalise(text).strip("，,。.！!？?")
    stripped = TRAILING.sub("", text)
    return stripped or text
