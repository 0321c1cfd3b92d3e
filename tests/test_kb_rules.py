"""The two reading rules of `kb check`, each shown failing on a pack made to break it:
no condition stricter than its text (stated: or assumed:), and every entitlement reachable by
its group of children at the age it applies."""

import shutil
from pathlib import Path

import pytest

from conftest import needs_shared
from policy_kb.check import check_entitlements_reachable, check_stricter_than_text, check_quotes
from policy_kb.loader import load_kb_uncached
from screening.engine import screen

REPO = Path(__file__).resolve().parent.parent


def broken_kb(tmp_path, pack: str, old: str, new: str):
    packs = tmp_path / "packs"
    shutil.copytree(REPO / "policy_kb" / "packs", packs)
    path = packs / f"{pack}.yaml"
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")
    return load_kb_uncached(packs)


def broken(tmp_path, pack: str, old: str, new: str) -> list[str]:
    try:
        kb = broken_kb(tmp_path, pack, old, new)
    except ValueError as exc:  # a pack that does not load
        return [str(exc)]
    return [str(p) for p in check_stricter_than_text(kb)]


def test_a_hukou_rule_the_text_does_not_state_fails(tmp_path):
    problems = broken(tmp_path, "tonghua-2017",
                      "    assumed: 通化的方案没有写户籍条件；一般到孩子户籍所在地的乡镇（街道）申请，以当地经办机构为准\n", "")
    assert any("tonghua-2017" in p and "child.hukou_local is not stated" in p for p in problems), problems


def test_a_borrowed_age_that_is_not_marked_fails(tmp_path):
    problems = broken(tmp_path, "wenling-2023",
                      "          assumed: 温岭的文件没有写留守儿童的年龄；按国家规定（国发〔2016〕13号）一般指未满16周岁的孩子，以当地认定为准\n",
                      "")
    assert any("categories.left_behind" in p and "child.age lt 16" in p for p in problems), problems


@needs_shared()
def test_a_stated_condition_must_quote_its_own_text(tmp_path):
    from policy_kb.check import shared_dir

    kb = broken_kb(tmp_path, "wenling-2023", "stated: 本意见所称困境儿童，指具有温岭市户籍",
                   "stated: 本意见所称困境儿童，指具有浙江省户籍")
    problems = [str(p) for p in check_quotes(kb, shared_dir())]
    assert any("stated: not found" in p for p in problems), problems


def test_an_item_for_adults_that_no_young_adult_reaches_fails(tmp_path):
    """An item marked for 成年后 must reach a young person of 18 or over (a former orphan of 19
    was told nothing): the 30元 for under-1s, marked so, fails."""
    kb = broken_kb(tmp_path, "wenling-2023", "      fixed_per_month: 30\n",
                   "      fixed_per_month: 30\n    adult: true\n")
    problems = [str(p) for p in check_entitlements_reachable(kb)]
    assert any("entitlements.infant_nutrition" in p and "18 or over" in p for p in problems), problems


def test_an_adult_item_is_shown_to_a_child_as_help_for_later():
    result = screen({"region": "温岭", "child": {"age": 8, "hukou_local": True, "living": "relatives"},
                     "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}})
    housing = next(e for e in result["entitlements"] if e["name"] == "孤儿成年后住房保障")
    assert housing["from_age"] == 18


def test_an_item_no_child_of_its_group_can_reach_fails(tmp_path):
    """温岭 二（一）4: the 30元 for under-1s, bound to an age no child of the group has."""
    kb = broken_kb(tmp_path, "wenling-2023", """        - fact: child.age
          lt: 1
""", """        - fact: child.age
          lt: 0
""")
    problems = [str(p) for p in check_entitlements_reachable(kb)]
    assert any("entitlements.infant_nutrition" in p and "unreachable" in p for p in problems), problems


def test_a_condition_cannot_be_both_assumed_and_a_near_miss(tmp_path):
    problems = broken(tmp_path, "wenling-2023",
                      "          assumed: 温岭的文件没有写留守儿童的年龄",
                      "          why_not: 不满16周岁\n          assumed: 温岭的文件没有写留守儿童的年龄")
    assert any("makes no near miss" in p for p in problems), problems


def test_an_assumed_condition_makes_the_category_possible_and_says_what_is_assumed():
    result = screen({"region": "通化", "child": {"age": 9, "hukou_local": False,
                     "disability": {"grade": 2, "kind": "肢体", "certificate": True}}})
    assert "自身困境儿童" not in [n["name"] for n in result["near_misses"]]
    possible = next(c for c in result["possible_categories"] if c["name"] == "自身困境儿童")
    assert any("户籍" in a for a in possible["assumptions"])
    assert any("自身困境儿童" in a["categories"] for a in result["assumptions"])


LIVING_TOPICS = {"基本生活费", "特困供养", "困难残疾人生活补贴", "低保", "低保家庭儿童补助", "困境儿童生活保障"}


def test_every_living_allowance_shown_beside_another_says_how_they_combine():
    """In every case, two or more items that pay for living costs are each covered by a stacking
    rule shown with them (the local text's where it has one, else the national one)."""
    import yaml

    from policy_kb.loader import load_kb

    kb = load_kb()
    topic = {f"{pid}:{e.id}": e.topic for pid, lp in kb.packs.items() for e in lp.pack.entitlements}
    checked = 0
    for path in sorted((REPO / "tests" / "cases").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text("utf-8")):
            result = screen(case["facts"])
            living = [e for e in result["entitlements"] if topic[e["id"]] in LIVING_TOPICS]
            if len(living) < 2:
                continue
            checked += 1
            for e in living:
                assert e.get("stacking"), (case["name"], e["name"], [x["name"] for x in living])
    assert checked >= 20, checked
