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

PERSONAS = [pytest.param(p["facts"], id=p["id"])
            for p in yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8"))] if SHARED else []
FAMILIES = list(PERSONAS)
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
        rows = text.split("\n")
        for c in result["categories"]:
            assert sum(r.startswith(f"✅ 可以申请：{c['name']}") for r in rows) == 1, "every yes category has its line"
        for mark in ("✅", "❓", "⚠"):
            assert text.count(mark) == sum(r.startswith(mark) for r in rows), f"one {mark} item per line"
        assert sum(r.startswith("❓") for r in rows) <= rv.MAX_MAYBE_LINES + 1
        if result["categories"] or result["possible_categories"] or result["entitlements"]:
            assert "下一步：" in text
        assert ("提交预申请" in [b.label[2:] for b in first.flat_buttons]) is rv.can_file(result)
        if urgent:
            assert text.startswith("⚠") and "110" in text.split("\n")[0]
            assert "通知" not in text, "nobody has been alerted before a case is filed"


# ---------------------------------------------------------------- through the engine

WHO = Who(user_key="test:result")


def assert_outcome_names_only_its_buttons(out) -> None:
    labels = [b.label for r in out.replies for b in r.flat_buttons]
    for reply in out.replies:
        text = render_reply(reply)
        for name in named_buttons(text):
            assert any(name in lab for lab in labels), (name, labels, text)


def drive(facts: dict) -> tuple[dict, list]:
    """The conversation as `simulate` answers it, keeping every outcome."""
    from conversation.simulate import answer_for
    outs = [step(None, Input.typed("/start"), who=WHO)]
    state = outs[-1].state
    for _ in range(80):
        inp = answer_for(state, facts)
        if inp is None:
            break
        outs.append(step(state, inp, who=WHO))
        state = outs[-1].state
    return state, outs


@pytest.mark.parametrize("facts", PERSONAS)
def test_no_message_of_a_whole_conversation_names_a_button_that_is_not_there(facts):
    state, outs = drive(facts)
    assert state["stage"] == "result"
    for action in ["more:all", "more:steps", "more:sources", "docs", "doc:0", "result", "file", "file:stop",
                   "result", "file", "consent:n", "summary", "result", "restart"]:
        out = step(state, Input.pressed(action), who=WHO)
        outs.append(out)
        if not any(r.template == "stale_button" for r in out.replies):
            state = out.state
    for out in outs:
        assert_outcome_names_only_its_buttons(out)
    first = next(r for o in outs for r in o.replies if r.template == "result")
    assert lines(render_reply(first)) <= rv.FIRST_MESSAGE_LINES


def test_what_applies_at_18_waits_in_its_own_part_until_the_child_is_18():
    young = {"region": "温岭", "child": {"age": 9, "hukou_local": True, "living": "relatives"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
    result = screen(young)
    now, later = rv.ordered_entitlements(result, young, False)
    assert {e["name"] for e in later} >= {"孤儿成年后住房保障", "成年后就业帮扶"}
    assert now[0]["kind"] == "基本生活" and now[0]["amount"], "the allowance and its amount first"
    text = render_reply(rv.result_reply(new_state(), result, young))
    head = text[:text.index("以后（成年后）")]
    assert "成年后" not in head and "社会散居孤儿基本生活费补助：每年不低于" in head
    grown = {**young, "child": {**young["child"], "age": 18, "school_stage": "senior"}}
    _, later18 = rv.ordered_entitlements(screen(grown), grown, False)
    assert not later18, "at 18 nothing is 'later' any more"


def test_an_urgent_child_sees_protection_first():
    facts = {"region": "通化", "child": {"age": 6, "hukou_local": True}, "safety": {"abused": True}}
    now, _ = rv.ordered_entitlements(screen(facts), facts, True)
    assert now[0]["kind"] in ("安全保护", "监护")


def test_steps_only_for_the_routes_this_family_takes():
    facts = {"region": "温岭", "child": {"age": 9, "hukou_local": True, "living": "relatives"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
    names = [p["name"] for p in rv.routes(screen(facts))]
    assert names == ["孤儿认定"], names


def test_a_result_with_no_category_says_the_nearest_miss_whom_to_call_and_offers_to_file_anyway():
    # 重庆, not 温岭: since issue 10 a former 温岭 orphan of 18 has 成年后 help (温岭 二（一）、二（四）)
    facts = {"region": "重庆", "child": {"age": 18, "hukou_local": True, "living": "relatives", "school_stage": "none"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
    result = screen(facts)
    assert not result["categories"] and not result["possible_categories"] and result["near_misses"]
    reply = rv.result_reply(new_state(), result, facts)
    text = render_reply(reply)
    assert "还没有找到孩子符合的类别" in text
    near = result["near_misses"][0]["name"]
    one = [line for line in text.split("\n") if near in line]
    assert one and "18" in one[0], "the nearest miss and what would change it, on one line"
    assert "12345" in text
    assert "点“提交预申请”" in text and "file" in rv.button_names(reply.buttons)


def test_no_local_pack_no_pre_application_and_the_file_button_is_refused():
    facts = {"region": "广州", "child": {"age": 9, "hukou_local": True}, "household": {"dibao": True}}
    state, _ = drive(facts)
    result = screen(facts)
    assert not rv.can_file(result)
    reply = rv.result_reply(state, result, facts)
    assert "file" not in rv.button_names(reply.buttons)
    assert "提交预申请" not in render_reply(reply) and "12345" in render_reply(reply)
    out = step(state, Input.pressed("file"), who=WHO)
    assert out.state["stage"] == "result" and any(r.template == "stale_button" for r in out.replies)
    docs = step(state, Input.pressed("docs"), who=WHO)
    assert "file" not in {b.action for r in docs.replies for b in r.flat_buttons}
    assert all("预申请" not in render_reply(r) for r in docs.replies), "no pre-application is promised there"


def test_editor_notes_never_reach_a_family():
    facts = {"region": "重庆渝中", "child": {"age": 6, "hukou_local": True, "living": "relatives"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
    result = screen(facts)
    result["notes"] = [*result["notes"], "原件文号印刷受损（显示为“渝民规〔202517”），按渝民规〔2025〕17号记录。"]
    state = new_state()
    replies = [rv.result_reply(state, result, facts)] + [rv.page_reply(k, state, result, facts) for k in rv.PAGES]
    text = "\n".join(render_reply(r) for r in replies)
    assert "印刷受损" not in text and "文号" not in text
    family = [n for n in result["notes"] if "印刷" not in n]
    assert all(n in text for n in rv.family_notes(family)), "the notes meant for families are all there"


def test_time_notes_and_assumptions_are_shown_compactly_and_in_full_behind_all_help():
    facts = {"region": "通化", "child": {"age": 15, "hukou_local": True},
             "father": {"situations": ["incarcerated"], "remaining_months": 14},
             "mother": {"situations": ["deceased"]}}
    result = screen(facts)
    # as the screen gives them (issue 10): objects with a text
    result["time_notes"] = [{"fact": "father.remaining_months", "text": "父亲剩余刑期不足12个月时（约2027年1月起），不再符合事实无人抚养儿童。"}]
    result["assumptions"] = [{"text": "一般到户籍所在地申请，以当地经办机构为准", "categories": ["自身困境儿童"]}]
    state = new_state()
    first = render_reply(rv.result_reply(state, result, facts))
    assert lines(first) <= rv.FIRST_MESSAGE_LINES
    assert "注意：父亲剩余刑期不足12个月时" in first, "the time note in one line of the first message"
    full = render_reply(rv.page_reply("all", state, result, facts))
    assert "【什么时候会变】" in full and "约2027年1月起" in full
    assert "一般到户籍所在地申请" in full


def test_a_note_about_a_category_that_is_only_possible_waits_behind_all_help():
    """A 温岭 orphan living with her grandparents: the note on the age of living alone concerns 其他困境儿童,
    which is only possible for her — not a line of her first message, but there behind 全部帮助."""
    facts = {"region": "温岭", "child": {"age": 8, "hukou_local": True, "living": "relatives"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
    result = screen(facts)
    note = next(a["text"] for a in result["assumptions"] if "独自生活" in a["text"])
    assert "其他困境儿童" not in {c["name"] for c in result["categories"]}
    state = new_state()
    first = render_reply(rv.result_reply(state, result, facts))
    assert "孤儿" in first and note not in first and "注意" not in first
    assert note in render_reply(rv.page_reply("all", state, result, facts))


def test_a_child_living_here_with_the_hukou_elsewhere_is_not_sent_to_the_hukou_place():
    """A migrant family in 重庆 (户口在外地): the office that reads their pre-application is where they
    live, and 渝民规〔2025〕17号 lifts the 户籍地 limit; "到孩子户籍所在地…申请" could send them on a long
    trip. The next step says to ask where the child lives."""
    facts = {"region": "重庆", "child": {"age": 8, "hukou_local": False}, "migrant": True,
             "household": {"hardship": True}}
    _, first, _ = first_and_pages(facts)
    step_line = next(l for l in render_reply(first).split("\n") if l.startswith("下一步"))
    assert "现在住的地方" in step_line and "户籍所在地" not in step_line, step_line
    _, _, pages = first_and_pages(facts)
    assert render_reply(pages["steps"]).startswith("户口在外地的：先问孩子现在住的地方")
    local = {**facts, "child": {"age": 8, "hukou_local": True}, "migrant": False}
    _, first, _ = first_and_pages(local)
    assert "户籍所在地" in next(l for l in render_reply(first).split("\n") if l.startswith("下一步"))
