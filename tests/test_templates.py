"""Every answer a persona gets renders as valid Telegram HTML, split under 4096 characters, with
buttons whose callback data fits 64 bytes; a user's "<" stays text."""

import pytest
import yaml

from botapi_fakes.spec import check_html, utf16_len
from conftest import SHARED
from conversation.engine import docs_reply, new_state, result_replies, source_reply
from conversation.model import Reply
from screening.engine import screen
from templates import render_reply, split_message

PERSONAS = yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8")) if SHARED else []


def _check(reply: Reply) -> None:
    for part in split_message(render_reply(reply, html=True)):
        problems, visible = check_html(part)
        assert problems == []
        assert 1 <= utf16_len(visible) <= 4096
    for button in reply.flat_buttons:
        assert 1 <= len(button.action.encode()) <= 64
        assert button.label


@pytest.mark.skipif(SHARED is None, reason="../shared/spec/personas.yaml is not beside the repository")
@pytest.mark.parametrize("persona", PERSONAS, ids=[p["id"] for p in PERSONAS])
def test_results_render_for_telegram(persona):
    result = screen(persona["facts"])
    state = new_state()
    for reply in result_replies(state, result) + [docs_reply(state, result)]:
        _check(reply)
    for i in range(len(result["categories"])):
        _check(source_reply(result, i))


def test_a_long_message_is_split_at_blank_lines_under_the_limit():
    text = "\n\n".join("第{}段".format(i) + "字" * 300 for i in range(40))
    parts = split_message(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == text


def test_user_text_is_escaped_in_html():
    html = render_reply(Reply("place_unknown", {"place": "<b>温岭</b>&", "candidates": []}), html=True)
    assert "&lt;b&gt;温岭&lt;/b&gt;&amp;" in html
    assert check_html(html)[0] == []
