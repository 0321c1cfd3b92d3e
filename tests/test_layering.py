"""Layering, parameters and near misses, read off the texts."""

from screening.engine import screen

ORPHAN_WL = {"region": "温岭", "child": {"age": 9, "hukou_local": True, "living": "relatives"},
             "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}


def _amounts(result):
    return [e["amount"] for e in result["entitlements"] if e.get("amount") and e["amount"].get("parameters")]


def test_unset_parameter_gives_the_formula_and_no_invented_number():
    amounts = _amounts(screen(ORPHAN_WL))
    assert amounts and all(a["per_month"] is None for a in amounts)
    assert any("80%" in a["text"] for a in amounts)


def test_set_parameter_gives_the_figure():
    result = screen(ORPHAN_WL, parameters={"wenling-2023.urban_consumption": 48000})
    per_month = [a["per_month"] for a in _amounts(result)]
    # scattered orphan: 48000 × 70% × 80% / 12 = 2240 per month
    assert 2240 in per_month


def test_dibao_floor_is_stated_when_unset():
    result = screen({"region": "温岭", "child": {"age": 2, "hukou_local": True}, "household": {"dibao": True}})
    assert any(a.get("floor_per_month") == 200 for a in _amounts(result))


def test_qijiang_premium_aid_is_the_newer_municipal_rule_with_a_note():
    result = screen({"region": "綦江", "child": {"age": 12, "hukou_local": True}, "household": {"dibao": True}})
    texts = " ".join(e["detail"] for e in result["entitlements"])
    assert "90%" in texts and "全额资助" not in texts
    assert any("渝民规〔2025〕17号" in n and "綦江府办发〔2017〕91号" in n for n in result["notes"])
    assert {e["document"] for e in result["entitlements"]} >= {"渝民规〔2025〕17号", "綦江府办发〔2017〕91号"}


def test_near_miss_names_the_term_not_an_unrelated_rule():
    result = screen({"region": "杭州", "child": {"age": 9, "hukou_local": True},
                     "father": {"situations": ["deceased"]},
                     "mother": {"situations": ["incarcerated"], "remaining_months": 5, "disability": None}})
    near = {n["name"]: n for n in result["near_misses"]}
    assert "6个月" in near["事实无人抚养儿童"]["would_change"], near


def test_no_near_miss_while_other_parts_are_unknown():
    result = screen({"region": "温岭", "child": {"age": 18, "hukou_local": True}})
    assert not any("低保" in n["name"] for n in result["near_misses"])
