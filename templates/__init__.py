"""Every word a user sees comes from a Jinja2 template in this folder.

`render_text` is for the console and the command line (plain text); `render_html` for Telegram
(HTML parse mode: autoescaped, so a user's "<" stays text).  StrictUndefined makes a missing
variable fail in tests instead of printing nothing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

import clock
from datafile import read_yaml

TEMPLATES = Path(__file__).resolve().parent

# auto_reload off: each template is read and compiled once per process, not stat()ed on every
# render (restart the bot after editing a template)
_COMMON = dict(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
               keep_trailing_newline=False, auto_reload=False)
_text = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, **_COMMON)
_html = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, **_COMMON)

_LABELS = read_yaml(TEMPLATES / "fact_labels.yaml")
_WORDS = read_yaml(TEMPLATES / "labels.yaml")


def fact_label(path: str) -> str:
    role, _, rest = path.partition(".")
    if role in _LABELS["roles"]:
        return _LABELS["roles"][role] + _LABELS["parent"].get(rest, rest)
    return _LABELS["facts"].get(path, path)


def money(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value - round(value)) < 0.005 else f"{value:,.2f}"


for _env in (_text, _html):
    _env.filters["fact_label"] = fact_label
    _env.filters["money"] = money
    _env.filters["local"] = clock.local  # a stored moment on China's clock


def render_text(name: str, /, **context: Any) -> str:
    return _text.get_template(name).render(**context).strip() + "\n"


def render_html(name: str, /, **context: Any) -> str:
    return _html.get_template(name).render(**context).strip()


@lru_cache(maxsize=None)
def _label_template(key: str):
    return _text.from_string(_WORDS[key])


def label(key: str, **context: Any) -> str:
    """A button label or other short word from templates/labels.yaml (a Jinja2 string)."""
    return _label_template(key).render(**context) if context else _plain_label(key)


@lru_cache(maxsize=None)
def _plain_label(key: str) -> str:
    """A label without context renders the same every time: once per process (several per step)."""
    return _label_template(key).render()


def words(key: str) -> Any:
    """A list or mapping of words from templates/labels.yaml (refusal reasons, command menu)."""
    return _WORDS[key]


def render_reply(reply: Any, *, html: bool = False) -> str:
    """A conversation Reply (conversation/model.py) as plain text or as Telegram HTML."""
    render = render_html if html else render_text
    return render(f"text/{reply.template}.txt.j2", **reply.context).strip()


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_message(text: str, limit: int = 4096) -> list[str]:
    """Cut a long message into parts of at most `limit` UTF-16 units (Telegram's count): at blank
    lines where possible, else at line ends (our templates keep any HTML tag within a line), else
    anywhere but inside an HTML entity (&lt;) or tag."""
    return _pack(text, limit, ("\n\n", "\n"))


def _cut_anywhere(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    while units(text) > limit:
        end, used = 0, 0
        while end < len(text) and used + units(text[end]) <= limit:
            used += units(text[end])
            end += 1
        amp, semi = text.rfind("&", 0, end), text.rfind(";", 0, end)
        if amp > semi and amp > 0 and ";" in text[end:end + 10]:  # inside &lt; &amp; &#128512;
            end = amp
        lt, gt = text.rfind("<", 0, end), text.rfind(">", 0, end)
        if lt > gt and lt > 0:  # inside a tag
            end = lt
        parts.append(text[:end])
        text = text[end:]
    return parts + ([text] if text else [])


def _pack(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if units(text) <= limit:
        return [text]
    if not separators:
        return _cut_anywhere(text, limit)
    sep, finer = separators[0], separators[1:]
    parts: list[str] = []
    current = ""
    for piece in text.split(sep):
        candidate = f"{current}{sep}{piece}" if current else piece
        if units(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        *done, current = _pack(piece, limit, finer)
        parts += done
    if current:
        parts.append(current)
    return parts
