"""Danger words anywhere in a message: `detect_danger(text)` → the phrases found (empty: none).

The list is data (zhtext/danger.yaml). Everyday words with 打 (打工, 打电话, 打针, 打算 …) are
masked first; negated forms ("没有被打") are still flagged — safety first; 离家出走 counts only
when it is not said of a parent.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from datafile import read_yaml

DANGER_FILE = Path(__file__).resolve().parent / "danger.yaml"  # zhtext/danger.yaml
MASK = "\u3000"  # a character no pattern contains; normalised text has no spaces left


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    kind: str
    not_after: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1)
def _data() -> tuple[tuple[str, ...], tuple[Pattern, ...]]:
    raw = read_yaml(DANGER_FILE)
    masks = tuple(sorted((str(w) for w in raw["not_danger"]), key=len, reverse=True))
    patterns = tuple(Pattern(re.compile(p["re"]), p["kind"], tuple(p.get("not_after", [])))
                     for p in raw["patterns"])
    return masks, patterns


def _prepare(text: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", text).lower().split())
    masks, _ = _data()
    for word in masks:
        if word in text:
            text = text.replace(word, MASK * len(word))
    return text


def detect_danger_kinds(text: str) -> list[tuple[str, str, int]]:
    """(phrase, kind, position) for every danger phrase, in order of position."""
    prepared = _prepare(text)
    _, patterns = _data()
    found: list[tuple[str, str, int]] = []
    for pat in patterns:
        for m in pat.regex.finditer(prepared):
            before = prepared[max(0, m.start() - 6):m.start()]
            if pat.not_after and any(w in before for w in pat.not_after):
                continue
            found.append((m.group(0), pat.kind, m.start()))
    found.sort(key=lambda f: f[2])
    return found


def detect_danger(text: str) -> list[str]:
    """The danger phrases in `text`, each once, in order; [] when there is none."""
    return list(dict.fromkeys(phrase for phrase, _, _ in detect_danger_kinds(text)))
