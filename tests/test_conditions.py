"""Three-valued conditions: unknown is not false; why, near misses and missing facts."""

import pytest

from policy_kb.conditions import ConditionError, Context, compile_condition
from policy_kb.loader import load_kb


@pytest.fixture(scope="module")
def ctx():
    return Context(load_kb().describe)


def ev(raw, facts, ctx):
    return compile_condition(raw, "test").evaluate(facts, ctx)


BOTH_IN_PRISON = {"parents": "both", "match": {"all": [
    {"situation": ["incarcerated", "drug_rehab"]},
    {"fact": "remaining_months", "ge": 12, "why_not": "剩余在押期须在1年及以上"}]}}


def test_unknown_parent_is_unknown_not_false(ctx):
    out = ev(BOTH_IN_PRISON, {"father": {"situations": ["incarcerated"], "remaining_months": 20}}, ctx)
    assert out.value is None
    assert "mother.situations" in out.unknown


def test_why_names_each_parent_and_term(ctx):
    out = ev(BOTH_IN_PRISON, {"father": {"situations": ["incarcerated"], "remaining_months": 36},
                              "mother": {"situations": ["drug_rehab"], "remaining_months": 12}}, ctx)
    assert out.value is True
    assert out.reasons == ["父亲服刑在押、剩余36个月", "母亲在强制隔离戒毒、剩余12个月"]


@pytest.mark.parametrize("months,value", [(11, False), (12, True), (None, None)])
def test_term_boundary(ctx, months, value):
    mother = {"situations": ["incarcerated"]}
    if months is not None:
        mother["remaining_months"] = months
    out = ev(BOTH_IN_PRISON, {"father": {"situations": ["incarcerated"], "remaining_months": 40},
                              "mother": mother}, ctx)
    assert out.value is value
    if value is False:
        assert out.failed[0].why_not == "剩余在押期须在1年及以上"
        assert "剩余11个月" in out.failed[0].actual and "母亲" in out.failed[0].actual


def test_one_and_other_either_way_round(ctx):
    cond = {"parents": "one_and_other", "one": {"situation": ["deceased"]},
            "other": {"situation": ["incarcerated"]}}
    a = ev(cond, {"father": {"situations": ["deceased"]}, "mother": {"situations": ["incarcerated"]}}, ctx)
    b = ev(cond, {"mother": {"situations": ["deceased"]}, "father": {"situations": ["incarcerated"]}}, ctx)
    c = ev(cond, {"mother": {"situations": ["deceased"]}, "father": {"situations": []}}, ctx)
    assert (a.value, b.value, c.value) == (True, True, False)


def test_explicit_null_disability_means_none(ctx):
    cond = {"fact": "child.disability.grade", "le": 2}
    assert ev(cond, {"child": {"disability": None}}, ctx).value is False
    assert ev(cond, {"child": {}}, ctx).value is None
    assert ev(cond, {"child": {"disability": {"grade": 2, "kind": "肢体"}}}, ctx).value is True


def test_any_is_true_despite_unknowns_and_all_false_despite_unknowns(ctx):
    any_cond = {"any": [{"fact": "household.dibao", "is": True}, {"fact": "child.autism", "is": True}]}
    all_cond = {"all": [{"fact": "household.dibao", "is": True}, {"fact": "child.autism", "is": True}]}
    assert ev(any_cond, {"household": {"dibao": True}}, ctx).value is True
    assert ev(all_cond, {"household": {"dibao": False}}, ctx).value is False
    assert ev(all_cond, {"household": {"dibao": True}}, ctx).value is None


@pytest.mark.parametrize("raw,fragment", [
    ({"fact": "child.shoe_size", "ge": 3}, "unknown fact"),
    ({"fact": "child.age", "ge": "3"}, "must be a number"),
    ({"all": []}, "non-empty"),
    ({"situation": ["deceased"]}, "only inside a parents"),
    ({"parents": "both", "match": {"situation": ["on_holiday"]}}, "situations from facts.md"),
    ({"fact": "child.age", "ge": 3, "le": 5}, "exactly one"),
    ({"parents": "some"}, "both, either or one_and_other"),
])
def test_malformed_conditions_are_refused(raw, fragment):
    with pytest.raises(ConditionError, match=fragment):
        compile_condition(raw, "categories[0].when")


def test_months_with_duo_before_yue():
    from zhtext.numbers import parse_months

    assert [parse_months(t) for t in ("三个多月", "一个多月", "半年多", "两年零三个月")] == [3, 1, 6, 27]
