"""The two reading rules of `kb check`, each shown failing on a pack made to break it:
no condition stricter than its text (stated: or assumed:), and every entitlement reachable by
its group of children at the age it applies."""

import shutil
from pathlib import Path

import pytest

from conftest import needs_shared
from policy_kb.check import check
from screening.engine import screen

REPO = Path(__file__).resolve().parent.parent


def broken(tmp_path, pack: str, old: str, new: str) -> list[str]:
    packs = tmp_path / "packs"
    shutil.copytree(REPO / "policy_kb" / "packs", packs)
    path = packs / f"{pack}.yaml"
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")
    return [str(p) for p in check(packs)]


@needs_shared()
def test_the_packs_pass_both_rules():
    assert check() == []


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
    problems = broken(tmp_path, "wenling-2023", "stated: 本意见所称困境儿童，指具有温岭市户籍",
                      "stated: 本意见所称困境儿童，指具有浙江省户籍")
    assert any("stated: not found" in p for p in problems), problems


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
