"""Check a Bot API call against ../shared/telegram/bot-api-spec.json and Telegram's limits.

``validate_call(method, params)`` returns a list of problems (empty when the call is fine).
Parameters may be python objects (``RequestData.parameters``) or the strings of a form-encoded
request, where PTB JSON-encodes every non-string value. Without the spec file the method and field
checks are skipped (``load_spec()`` is None, ``SPEC_MISSING`` says why); the limit and HTML checks
need no spec and always run.
"""

from __future__ import annotations

import functools
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from settings import get_settings

TEXT_MAX = 4096  # sendMessage / editMessageText text, after entity parsing
CAPTION_MAX = 1024
CALLBACK_ANSWER_MAX = 200  # answerCallbackQuery text
CALLBACK_DATA_BYTES = 64
BUTTONS_MAX, BUTTONS_PER_ROW = 100, 8
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
COMMAND_DESCRIPTION_MAX = 256

TEXT_METHODS = {"sendMessage", "editMessageText"}


def spec_path() -> Path:
    shared = get_settings().tongzhu_shared
    base = shared if shared else Path(__file__).resolve().parents[2] / "shared"
    return base / "telegram" / "bot-api-spec.json"


SPEC_MISSING = f"Bot API spec not found at {spec_path()} (set TONGZHU_SHARED to the shared dir)"


@functools.cache
def load_spec() -> dict | None:
    path = spec_path()
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _fields(method: str) -> dict[str, dict] | None:
    spec = load_spec()
    if spec is None or method not in spec["methods"]:
        return None
    return {f["name"]: f for f in spec["methods"][method].get("fields", [])}


def coerce_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Decode form values: a string stays a string where the spec allows String (a numeric chat_id
    becomes an int), otherwise it is JSON-decoded if it parses (numbers, booleans, objects)."""
    fields = _fields(method) or {}
    out = {}
    for name, value in params.items():
        if isinstance(value, str):
            numeric_id = name.endswith("_id") and re.fullmatch(r"-?\d+", value)
            if name in fields:  # the spec knows the field's types
                decode = "String" not in fields[name]["types"] or (name == "chat_id" and numeric_id)
            else:  # no spec: decode only what cannot be meant as text
                decode = value.lstrip().startswith(("{", "[")) or numeric_id
            if decode:
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
        out[name] = value
    return out


def utf16_len(text: str) -> int:
    """Telegram counts text length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


# Telegram HTML: allowed tags and the attributes some of them require.
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
                 "a", "code", "pre", "blockquote", "tg-emoji"}
_ENTITIES = {"lt", "gt", "amp", "quot"}


class _TelegramHTMLChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in _ALLOWED_TAGS:
            self.problems.append(f"HTML tag <{tag}> is not supported by Telegram")
        elif tag == "span" and attrs.get("class") != "tg-spoiler":
            self.problems.append('HTML <span> needs class="tg-spoiler"')
        elif tag == "a" and not attrs.get("href"):
            self.problems.append("HTML <a> needs an href")
        elif tag == "tg-emoji" and not attrs.get("emoji-id"):
            self.problems.append("HTML <tg-emoji> needs an emoji-id")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.problems.append(f"HTML self-closing tag <{tag}/> is not supported by Telegram")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            expected = f"</{self.stack[-1]}>" if self.stack else "no closing tag"
            self.problems.append(f"HTML </{tag}> does not match: expected {expected}")
            if tag in self.stack:
                del self.stack[self.stack.index(tag):]
        else:
            self.stack.pop()

    def handle_data(self, data):
        for char, name in (("<", "&lt;"), (">", "&gt;"), ("&", "&amp;")):
            if char in data:
                self.problems.append(f"HTML: unescaped {char!r} in text (write {name}) near {data[:30]!r}")
        self.visible.append(data)

    def handle_entityref(self, name):
        if name not in _ENTITIES:
            self.problems.append(f"HTML entity &{name}; is not supported by Telegram")
        self.visible.append("x")

    def handle_charref(self, name):
        self.visible.append("x")

    def handle_comment(self, data):
        self.problems.append("HTML comments are not supported by Telegram")

    def handle_decl(self, decl):
        self.problems.append(f"HTML declaration <!{decl}> is not supported by Telegram")

    def handle_pi(self, data):
        self.problems.append(f"HTML processing instruction <?{data}> is not supported by Telegram")

    unknown_decl = handle_decl


def check_html(text: str) -> tuple[list[str], str]:
    """Check Telegram HTML; return (problems, visible text with tags removed)."""
    checker = _TelegramHTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.problems.append("HTML: unclosed " + ", ".join(f"<{t}>" for t in checker.stack))
    return checker.problems, "".join(checker.visible)


def _check_text(label: str, text: Any, parse_mode: Any, lo: int, hi: int) -> list[str]:
    if not isinstance(text, str):
        return [f"{label} must be a string, got {type(text).__name__}"]
    problems = []
    visible = text
    if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
        html_problems, visible = check_html(text)
        problems += [f"{label}: {p}" for p in html_problems]
    n = utf16_len(visible)
    if not lo <= n <= hi:
        problems.append(f"{label} is {n} characters after entity parsing; Telegram accepts {lo}-{hi}")
    return problems


def _check_markup(markup: Any) -> list[str]:
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return []
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return ["reply_markup.inline_keyboard must be an array of arrays of buttons"]
    problems = []
    total = sum(len(r) for r in rows)
    if total > BUTTONS_MAX:
        problems.append(f"inline keyboard has {total} buttons; at most {BUTTONS_MAX}")
    for i, row in enumerate(rows):
        if len(row) > BUTTONS_PER_ROW:
            problems.append(f"inline keyboard row {i} has {len(row)} buttons; at most {BUTTONS_PER_ROW}")
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                problems.append(f"inline button without text in row {i}: {button!r}")
                continue
            if "callback_data" in button:
                size = len(str(button["callback_data"]).encode("utf-8"))
                if not 1 <= size <= CALLBACK_DATA_BYTES:
                    problems.append(f"callback_data {button['callback_data']!r} is {size} bytes; "
                                    f"Telegram accepts 1-{CALLBACK_DATA_BYTES}")
    return problems


def _check_commands(commands: Any) -> list[str]:
    if not isinstance(commands, list):
        return ["setMyCommands commands must be an array of BotCommand"]
    problems = []
    for c in commands:
        if not isinstance(c, dict):
            problems.append(f"BotCommand must be an object: {c!r}")
            continue
        if not COMMAND_RE.fullmatch(str(c.get("command", ""))):
            problems.append(f"command {c.get('command')!r} must be 1-32 characters of a-z, 0-9 and _")
        if not 1 <= len(str(c.get("description", ""))) <= COMMAND_DESCRIPTION_MAX:
            problems.append(f"description of {c.get('command')!r} must be 1-{COMMAND_DESCRIPTION_MAX} characters")
    if len(commands) > 100:
        problems.append(f"{len(commands)} commands; at most 100")
    return problems


def validate_call(method: str, params: dict[str, Any]) -> list[str]:
    """Problems with calling ``method`` with ``params`` (empty list: looks acceptable)."""
    spec = load_spec()
    problems: list[str] = []
    params = coerce_params(method, {k: v for k, v in params.items() if v is not None})
    if spec is not None:
        fields = _fields(method)
        if fields is None:
            return [f"unknown Bot API method {method!r}"]
        problems += [f"missing required field {name!r}" for name, f in fields.items()
                     if f["required"] and name not in params]
        problems += [f"unknown field {name!r}" for name in params if name not in fields]
    if method in TEXT_METHODS and "text" in params:
        problems += _check_text("text", params["text"], params.get("parse_mode"), 1, TEXT_MAX)
    if "caption" in params:
        problems += _check_text("caption", params["caption"], params.get("parse_mode"), 0, CAPTION_MAX)
    if method == "answerCallbackQuery" and "text" in params:
        problems += _check_text("text", params["text"], None, 0, CALLBACK_ANSWER_MAX)
    if method == "setMyCommands" and "commands" in params:
        problems += _check_commands(params["commands"])
    if "reply_markup" in params:
        problems += _check_markup(params["reply_markup"])
    return problems
