"""Places as people type them."""

import pytest

from policy_kb.loader import load_kb
from policy_kb.places import place_index


@pytest.fixture(scope="module")
def index():
    return place_index(load_kb())


def packs(index, text):
    match = index.resolve(text)
    return match, index.packs_for(match.node)


def test_unknown_place_gets_the_national_baseline_alone(index):
    for text in ("杭州市", "今天天气怎么样", "xyz", "北京", "浙江省"):
        match, ids = packs(index, text)
        assert match.node is None, text
        assert ids == ["national"]


def test_empty_and_punctuation_do_not_match(index):
    assert index.resolve("   ").node is None
    assert index.resolve("！！").node is None


@pytest.mark.parametrize("text,expected,pack", [
    ("温岭", "温岭", "wenling-2023"),
    ("浙江温岭市", "温岭", "wenling-2023"),
    ("wenling", "温岭", "wenling-2023"),
    ("Wen Ling", "温岭", "wenling-2023"),
    ("温玲", "温岭", "wenling-2023"),  # homophone typo
    ("北京门头沟", "门头沟", "mentougou-2017"),
    ("门头钩", "门头沟", "mentougou-2017"),
    ("mentougou", "门头沟", "mentougou-2017"),
    ("通化县", "通化县", "tonghua-2017"),
    ("集安市", "集安", "tonghua-2017"),
    ("吉林省通化市", "通化", "tonghua-2017"),
    ("通话", "通化", "tonghua-2017"),  # homophone typo
    ("重庆綦江区", "綦江", "qijiang-2017"),
    ("綦江", "綦江", "qijiang-2017"),
    ("qijiang", "綦江", "qijiang-2017"),
    ("齐江", "綦江", "qijiang-2017"),  # homophone
    ("重庆市渝中区", "渝中", "chongqing-2025"),
    ("chongqing", "重庆", "chongqing-2025"),
    ("重庆", "重庆", "chongqing-2025"),
])
def test_places_resolve_to_their_packs(index, text, expected, pack):
    match, ids = packs(index, text)
    assert match.node is not None, text
    assert expected in match.node.name, (text, match.node.name)
    assert pack in ids and ids[-1] == "national"


def test_qijiang_is_layered_newest_first(index):
    _, ids = packs(index, "綦江区")
    assert ids == ["chongqing-2025", "qijiang-2017", "national"]
