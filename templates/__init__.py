"""Every word a user sees comes from a Jinja2 template in this folder.

`render_text` is for the console and the command line (plain text); `render_html` for Telegram
(HTML parse mode: autoescaped, so a user's "<" stays text).  StrictUndefined makes a missing
variable fail in tests instead of printing nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent

_COMMON = dict(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
               keep_trailing_newline=False)
_text = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, **_COMMON)
_html = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, **_COMMON)

_LABELS = yaml.safe_load((TEMPLATES / "fact_labels.yaml").read_text(encoding="utf-8"))


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


def render_text(name: str, **context: Any) -> str:
    return _text.get_template(name).render(**context).strip() + "\n"


def render_html(name: str, **context: Any) -> str:
    return _html.get_template(name).render(**context).strip()
