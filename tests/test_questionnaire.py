"""The questionnaire is data: every fact it sets is a fact of the contract, and a broken file is
refused on load with the question and key named."""

import pytest

from conversation import questionnaire as qn
from policy_kb.conditions import FACT_PATHS


def test_every_question_sets_known_facts():
    for q in qn.QUESTIONS:
        for path in q["sets"]:
            assert path in FACT_PATHS, (q["id"], path)
        prefix = q["sets"][0].split(".")[0] + "." if q["id"] in ("father", "mother") else ""
        for choice in q.get("choices", []):
            for path in choice["set"]:
                assert prefix + path in FACT_PATHS, (q["id"], choice["label"], path)


def test_a_question_without_a_short_label_is_refused_naming_it(tmp_path):
    broken = tmp_path / "questionnaire.yaml"
    broken.write_text("questions:\n  - {id: age, kind: age, sets: [child.age], prompt: 几岁？, why: 年龄}\n",
                      encoding="utf-8")
    with pytest.raises(ValueError, match=r"questions\[0\] \(age\): missing 'short'"):
        qn.load_questions(broken)


def test_answers_rebuild_facts_and_a_changed_parent_loses_the_stale_term():
    state = {"asked": ["father", "father_remaining"], "answers": {
        "father": qn.choice_answer(qn.BY_ID["father"], 2),  # 在坐牢
        "father_remaining": {"label": "3年", "set": {"father.remaining_months": 36}}}}
    assert qn.rebuild(dict(state))["father"] == {"situations": ["incarcerated"], "remaining_months": 36}
    state["answers"]["father"] = qn.choice_answer(qn.BY_ID["father"], 1)  # 已去世
    facts = qn.rebuild(state)
    assert facts["father"] == {"situations": ["deceased"]} and state["asked"] == ["father"]
