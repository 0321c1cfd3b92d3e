"""The result as a family sees it (conversation/result_view.py): short, ordered for the child now,
every promise true, every button named in a message there.  Through the engine, over every worked
family and every boundary case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import SHARED
from conversation import result_view as rv
from conversation.engine import new_state, step
from conversation.model import Input, Who
from screening.engine import screen
from templates import render_reply

FAMILIES = []
if SHARED:
    FAMILIES += [pytest.param(p["facts"], id=p["id"])
                 for p in yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8"))]
for path in sorted((Path(__file__).parent / "cases").glob("*.yaml")):
    FAMILIES += [pytest.param(c["facts"], id=f"{path.stem}: {c['name']}")
                 for c in yaml.safe_load(path.read_text("utf-8")) or []]

# "点“X”", "见“X”", "在“X”": a message that names a button
NAMED = re.compile(r"[点见在]“([^”]+)”")
LIST_NAMED = re.compile(r"点下面的按钮看：(.+)。")


def lines(text: str) -> int:
    """Lines as a family reads the message: every line, blank ones included."""
    return len(text.strip("\n").split("\n"))


def named_buttons(text: str) -> list[str]:
    names = NAMED.findall(text)
    for listed in LIST_NAMED.findall(text):
        names += listed.split("、")
    return names


def assert_buttons_there(reply) -> None:
    text = render_reply(reply)
    labels = [b.label for b in reply.flat_buttons]
    for name in named_buttons(text):
        assert any(name in lab for lab in labels), (name, labels, text)


def first_and_pages(facts: dict, urgent: bool = False):
    result = screen(facts)
    state = new_state()
    state["urgent"] = urgent
    first = rv.result_reply(state, result, facts)
    pages = {k: rv.page_reply(k, state, result, facts) for k in rv.PAGES}
    return result, first, pages


@pytest.mark.parametrize("facts", FAMILIES)
def test_first_message_is_short_and_names_only_buttons_that_are_there(facts):
    for urgent in (False, True):
        result, first, pages = first_and_pages(facts, urgent)
        text = render_reply(first)
        assert lines(text) <= rv.FIRST_MESSAGE_LINES, text
        for reply in [first, *pages.values()]:
            assert_buttons_there(reply)
        everything = "\n".join(render_reply(r) for r in [first, *pages.values()])
        assert not rv.EDITOR_NOTE.search(everything), "a note meant for editors reached a family"
        # every entitlement has its clause behind 依据
        sources = render_reply(pages["sources"])
        for e in result["entitlements"]:
            assert e["name"] in sources and f"{e['source']['clause']}「" in sources, e["name"]
        for c in result["categories"]:
            assert c["name"] in text, "every yes category has its line"
        if result["categories"] or result["possible_categories"] or result["entitlements"]:
            assert "下一步：" in text
        assert ("提交预申请" in [b.label[2:] for b in first.flat_buttons]) is rv.can_file(result)
        if urgent:
            assert text.startswith("⚠") and "110" in text.split("\n")[0]
            assert "通知" not in text, "nobody has been alerted before a case is filed"
