"""Every typed answer understood (issue 12 item 1): the table tests/typed/answers.yaml — typed text at
each question → the fact it gives — driven through the conversation engine, row by row."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from conversation import questionnaire as qn
from conversation.engine import facts_of, new_state, step
from conversation.model import Input, Who
from templates import render_reply

TABLE = yaml.safe_load((REPO / "tests" / "typed" / "answers.yaml").read_text(encoding="utf-8"))
ROWS = [(qid, row[0], row[1], len(row) > 2 and row[2] == "neg") for qid, rows in TABLE.items() for row in rows]
WHO = Who(user_key="test:typed")

# answers that must stand before a question is asked (its ask_if)
GIVEN = {
    "father_remaining": {"father": {"label": "在坐牢", "set": {"father.situations": ["incarcerated"]}}},
    "mother_remaining": {"mother": {"label": "在坐牢", "set": {"mother.situations": ["incarcerated"]}}},
    "father_unreachable": {"father": {"label": "失联", "set": {"father.situations": ["unreachable"]}}},
    "mother_unreachable": {"mother": {"label": "失联", "set": {"mother.situations": ["unreachable"]}}},
    "child_certificate": {"child_disability": {"label": "二级 智力",
                                               "set": {"child.disability": {"grade": 2, "kind": "智力"}}}},
}


def state_at(qid: str) -> dict:
    state = new_state()
    state.update(stage="questions", acting="self", current=qid)
    if qid != "region":
        state["answers"]["region"] = {"label": "温岭", "set": {"region": "温岭"}}
        state["asked"].append("region")
        state["place"] = {"name": "浙江省台州市温岭市", "how": "exact"}
    for given_id, answer in GIVEN.get(qid, {}).items():
        state["answers"][given_id] = answer
        state["asked"].append(given_id)
    return state


def test_the_table_is_large_and_holds_negations_for_every_yes_no_question():
    assert len(ROWS) >= 300
    assert set(TABLE) == {q["id"] for q in qn.QUESTIONS}, "every question has rows"
    yes_no = [q["id"] for q in qn.QUESTIONS if any(c.get("polar") for c in q.get("choices", []))]
    yes_no += [q["id"] for q in qn.QUESTIONS if q["kind"] in ("disability", "disability_child")]
    for qid in yes_no:
        assert any(neg for q, _, _, neg in ROWS if q == qid), f"{qid}: no negation in the table"


def _negative(value) -> bool:
    return value in (False, None, [], "none")


@pytest.mark.parametrize("qid,text,expected,neg", ROWS, ids=[f"{r[0]}-{r[1]}" for r in ROWS])
def test_typed_answer(qid, text, expected, neg):
    out = step(state_at(qid), Input.typed(text), who=WHO)
    templates = [r.template for r in out.replies]
    answer = out.state["answers"].get(qid)
    if isinstance(expected, dict) and "clarify" not in expected:
        assert answer is not None, f"{text!r} at {qid} not understood: {templates}"
        if qid == "region":
            assert answer["set"]["region"] == expected["region"]
            assert out.state["current"] != "region"
            return
        assert {p: answer["set"].get(p, "unset") for p in expected} == expected, answer
        if not expected:
            assert answer["set"] == {}, answer  # left unknown: unknown is not false
        if neg:  # no negation flips: a negated answer gives the question's "no", never a yes
            no = next((c for c in qn.BY_ID[qid].get("choices", []) if c.get("polar") == "no"), None)
            if no is not None and answer["label"] == no["label"]:
                return
            assert all(_negative(v) for v in answer["set"].values()), answer
    elif expected == "story":
        assert out.state["stage"] == "intake", templates
        if qid == "region":
            assert out.state["answers"].get("region") is None  # the story is not taken for a place
    elif expected == "ask_again":
        assert answer is None and out.state["current"] == qid, templates
        assert templates[-1] == "question"
    else:
        assert answer is None, f"{text!r} at {qid} was taken as {answer}: one short question was expected"
        assert "clarify" in templates, templates
        clarify = next(r for r in out.replies if r.template == "clarify")
        if isinstance(expected, dict) and expected["clarify"]:
            assert [b.label for b in clarify.flat_buttons] == expected["clarify"]
        assert len(clarify.flat_buttons) < len(qn.BY_ID[qid]["choices"])


@pytest.mark.parametrize("typed", ["户口在外地", "外地的", "户口不在这里", "老家的户口"])
def test_hukou_elsewhere_at_the_place_question_asks_where_the_child_lives(typed):
    """The place question asks where the 户口 is; "户口在外地" answers the 户口 question and asks
    where the child lives instead, never taking 外地 for a place."""
    out = step(state_at("region"), Input.typed(typed), who=WHO)
    assert out.state["answers"]["hukou"]["set"] == {"child.hukou_local": False}
    assert "region" not in out.state["answers"] and out.state["current"] == "region"
    assert "孩子现在住在哪个县" in out.replies[-1].context["prompt"]
    out = step(out.state, Input.typed("温岭"), who=WHO)
    assert out.state["answers"]["region"]["set"] == {"region": "温岭"}  # the 户口 stays elsewhere
    assert facts_of(out.state)["child"]["hukou_local"] is False


def test_a_place_typed_at_the_place_question_says_where_the_hukou_is():
    out = step(state_at("region"), Input.typed("温岭"), who=WHO)
    assert out.state["answers"]["region"]["set"] == {"region": "温岭", "child.hukou_local": True}
    assert "hukou" not in [q for q in out.state["asked"]] and out.state["current"] != "hukou"


@pytest.mark.parametrize("qid,asked", [("dibao", "低保是什么意思？"), ("hardship", "困难是什么意思"),
                                       ("father", "坐牢的能不能申请"), ("living", "福利院是什么")])
def test_a_question_typed_at_a_question_is_answered_never_taken_for_the_answer(qid, asked):
    out = step(state_at(qid), Input.typed(asked), who=WHO)
    assert qid not in out.state["answers"], "a word of the question was taken for the answer"
    templates = [r.template for r in out.replies]
    assert templates[0] in ("answers", "not_sure") and out.state["current"] == qid, templates


@pytest.mark.parametrize("speaker,typed,living", [("我是孩子奶奶", "跟我", "relatives"), ("外婆", "我带着", "relatives"),
                                                  ("我是他妈妈", "跟我住", "family"), ("我是孩子爸爸", "我自己带", "family"),
                                                  ("俺是他奶", "跟我过", "relatives"), ("我是娃儿的嘎嘎", "跟到我住", "relatives")])
def test_跟我_means_whom_the_speaker_is(speaker, typed, living):
    """A grandmother's "跟我住" is the grandparents, a mother's is the family: never the parents by default."""
    state = step(None, Input.typed("/start"), who=WHO).state
    state = step(state, Input.typed(speaker), who=WHO).state
    state = step(state, Input.typed("温岭"), who=WHO).state
    state.update(current="living")
    out = step(state, Input.typed(typed), who=WHO)
    assert out.state["answers"]["living"]["set"] == {"child.living": living}


@pytest.mark.parametrize("typed,living", [("安全的，跟奶奶住", "relatives"), ("安全，奶奶带着", "relatives"),
                                          ("挺好的，跟他妈妈在一起", "family")])
def test_safe_and_whom_the_child_lives_with_in_one_message_answers_both(typed, living):
    out = step(state_at("safety"), Input.typed(typed), who=WHO)
    assert out.state["answers"]["safety"]["set"]["safety.abused"] is False
    assert out.state["answers"]["living"]["set"] == {"child.living": living}
    assert out.state["current"] != "living"


def test_after_one_rare_situation_the_rest_are_one_question_and_what_was_said_stands():
    """其他情况: 孩子是打拐解救回来的 → "除了刚才说的…还有没有？" 都没有 → no question one by one, and
    the rescue stays true."""
    state = state_at("other")
    for qid, index in (("hukou", 0), ("safety", 0), ("age", None), ("health", 2), ("parents", 0), ("household", 0),
                       ("living", 1)):
        state["answers"][qid] = qn.choice_answer(qn.BY_ID[qid], index) if index is not None else \
            {"label": "9岁", "set": {"child.age": 9}}
        state["asked"].append(qid)
    out = step(state, Input.typed("孩子是被拐卖后解救回来的"), who=WHO)
    while out.state["current"] != "other_more":  # what this family's packs rank higher comes first
        assert out.state["current"] not in ("hiv", "crisis", "income") and out.state["stage"] == "questions"
        out = step(out.state, Input.typed("不确定"), who=WHO)
    out = step(out.state, Input.typed("都没有"), who=WHO)
    facts = facts_of(out.state)
    assert facts["safety"]["trafficking_rescued"] is True
    assert facts["child"]["hiv"] == "none" and facts["household"]["sudden_crisis"] is False
    assert out.state["current"] not in ("hiv", "crisis", "income", "trafficking")


def test_a_baby_is_not_asked_about_school():
    from conversation.simulate import simulate
    baby = {"region": "通化", "child": {"age": 1, "hukou_local": True}}
    assert "school" not in simulate(baby, trace=True)["asked"]
    assert "school" in simulate({**baby, "child": {"age": 4, "hukou_local": True}}, trace=True)["asked"]


def test_a_danger_answer_typed_at_safety_shows_what_to_do_once():
    out = step(state_at("safety"), Input.typed("被打了"), who=WHO)
    assert [r.template for r in out.replies].count("danger") == 1
    assert out.state["urgent"] and out.state["answers"]["safety"]["set"] == {"safety.abused": True}


@pytest.mark.parametrize("story", ["孩子他爸前年出车祸走了，他妈改嫁了好几年联系不上，孩子跟我过",
                                   "他妈这几年都联系不上，他爸前几天查出重病"])
def test_a_story_telling_a_time_is_taken_as_a_story_not_a_question(story):
    """好几年 / 这几年 / 前几天 tell a time: the story's facts are proposed, not policy answers given."""
    out = step(state_at("safety"), Input.typed(story), who=WHO)
    assert out.state["stage"] == "intake", [r.template for r in out.replies]
    assert [r.template for r in out.replies] == ["intake_confirm"]
    assert out.state["proposed"]["facts"]["mother"]["situations"] == ["unreachable"]


def _walk(typed: list[str]) -> dict:
    """A family typing its answers from the start, each at whatever question comes."""
    return _walk_on(step(None, Input.typed("/start"), who=WHO).state, typed)


def _walk_on(state: dict, typed: list[str]) -> dict:
    for text in typed:
        state = step(state, Input.typed(text), who=WHO).state
    return state


def test_with_the_mother_gone_the_father_s_own_disability_is_asked_not_both_parents():
    """A grandmother whose daughter-in-law has died is not asked "父母有没有残疾": the father's own
    question comes, and his certificate is read from what she types."""
    state = _walk(["我是孩子奶奶", "綦江", "安全的", "15岁"])
    answers = {"parents": "不一样", "father": "在家", "mother": "去世了", "health": "只有①",
               "household": "都不是", "other": "都没有", "other_more": "都没有", "child_self": "都没有",
               "living": "跟我住", "school": "高中", "father_disability": "一级 视力", "rural": "是"}
    asked = []
    while state["stage"] == "questions":
        asked.append(state["current"])
        state = step(state, Input.typed(answers.get(state["current"], "不确定")), who=WHO).state
    assert "parents_disability" not in asked and "mother_disability" not in asked
    assert "father_disability" in asked
    assert facts_of(state)["father"]["disability"] == {"grade": 1, "kind": "视力"}


def test_poor_but_not_sure_which_status_is_one_answer_not_three_questions():
    """"日子很困难，不清楚评没评上": the office checks the status; the family is not asked 低保,
    低保边缘… one by one, and the hardship stands on the summary."""
    state = _walk(["我是孩子奶奶", "重庆", "安全的", "8岁"])
    asked = []
    while state["stage"] == "questions":
        asked.append(state["current"])
        typed = "评没评上不知道，反正日子难过" if state["current"] == "household" else "不确定"
        state = step(state, Input.typed(typed), who=WHO).state
    assert "household" in asked and not {"dibao", "poverty_other", "hardship"} & set(asked), asked
    facts = facts_of(state)
    assert facts["household"] == {"hardship": True}
    assert state["answers"]["household"]["label"] == "日子很困难，不清楚评没评上"


@pytest.mark.parametrize("story,father", [("他妈死了，他爸在家带孩子", []), ("孩子妈妈去世了，他爸在家，腿瘸了干不了活", None)])
def test_a_father_at_home_in_the_story_is_not_asked_about_again(story, father):
    """"他爸在家" told with the story: once confirmed, nobody asks what the father's situation is —
    unless the story also says something is wrong with him (干不了活), when it is asked."""
    state = _walk(["我是孩子奶奶", "温岭", story])
    assert state["stage"] == "intake"
    state = _walk_on(state, ["对"])
    asked = []
    while state["stage"] == "questions":
        asked.append(state["current"])
        state = step(state, Input.typed("不确定"), who=WHO).state
    facts = facts_of(state)
    assert facts["mother"]["situations"] == ["deceased"]
    if father == []:
        assert facts["father"]["situations"] == [] and not {"parents", "father"} & set(asked), asked
    else:
        assert "father" in asked or "parents" in asked, asked


def test_a_second_story_before_the_first_is_confirmed_loses_nothing():
    """"他爹死了" proposed; before saying 对 she goes on "他娘跑了三年了": one proposal of both."""
    state = _walk(["我是孩子奶奶", "温岭", "他爹前年病死了"])
    assert state["stage"] == "intake"
    state = _walk_on(state, ["他娘跑了三年了，一直联系不上"])
    assert state["stage"] == "intake"
    assert state["proposed"]["facts"]["father"]["situations"] == ["deceased"]
    assert state["proposed"]["facts"]["mother"] == {"situations": ["unreachable"], "unreachable_months": 36}
    facts = facts_of(_walk_on(state, ["对"]))
    assert facts["father"]["situations"] == ["deceased"] and facts["mother"]["unreachable_months"] == 36


def test_what_a_clarified_answer_told_stands_and_shows_on_the_summary():
    """"孩子有自闭症，医院确诊了" at the rarer-situations gate → "只有①，还是①②都有？" → 只有①: the
    autism is kept (not asked again) and the summary says it."""
    state = _walk(["我是孩子妈妈", "温岭", "没事", "6岁", "孩子有自闭症，医院确诊了"])
    assert state["current"] == "health" and "health" not in state["answers"]
    state = _walk_on(state, ["只有1"])
    assert facts_of(state)["child"]["autism"] is True
    assert "孤独症" in state["answers"]["health"]["label"]
    asked = []
    while state["stage"] == "questions":
        asked.append(state["current"])
        state = step(state, Input.typed("不确定"), who=WHO).state
    assert not {"child_self", "autism", "child_more"} & set(asked), asked


def test_a_story_a_question_cannot_take_is_kept_and_whom_the_child_lives_with_taken():
    """"他爸妈离婚了都不管他，跟我过" at the rarer-situations gate: no "没看懂" — the words are kept for
    the office, a grandmother's 跟我过 is the living answer, and the gate is asked again."""
    state = _walk(["奶奶", "杭州", "还好", "七岁半"])
    assert state["current"] == "health"
    out = step(state, Input.typed("他爸妈离婚了都不管他，跟我过"), who=WHO)
    assert [r.template for r in out.replies] == ["story_kept", "question"]
    assert out.state["current"] == "health" and "health" not in out.state["answers"]
    assert out.state["answers"]["living"]["set"] == {"child.living": "relatives"}
    assert out.state["told"][-1]["text"] == "他爸妈离婚了都不管他，跟我过"
    kept = render_reply(out.replies[0])
    assert "办事的人" not in kept, "杭州: no office reads a pre-application, so none is promised"
    state = _walk(["奶奶", "温岭", "还好", "七岁半"])
    kept = render_reply(step(state, Input.typed("他爸妈离婚了都不管他，跟我过"), who=WHO).replies[0])
    assert "提交预申请的话，办事的人能看到" in kept


def test_好几年_in_a_story_is_at_least_two_years_said_so_and_not_asked_again():
    """"他妈跑了好几年了": the months are at least 24 (more than any rule asks), the proposal says
    so in her words, and "母亲联系不上多久了？" is not asked after 对."""
    state = _walk(["我是孩子奶奶", "温岭", "安全的", "9岁", "他爸坐牢了，还要关好几年，他妈跑了好几年了"])
    assert state["stage"] == "intake"
    out = step(state, Input.typed("不确定"), who=WHO)  # anything but 对 shows the proposal again
    lines = "\n".join(render_reply(r) for r in out.replies if r.template == "intake_confirm")
    assert "已失联好几年（按至少24个月算）" in lines and "还要好几年（按至少24个月算）" in lines, lines
    state = _walk_on(state, ["对"])
    facts = facts_of(state)
    assert facts["mother"]["unreachable_months"] == 24 and facts["father"]["remaining_months"] == 24
    assert "好几年" in state["answers"]["intake"]["label"]
    asked = []
    while state["stage"] == "questions":
        asked.append(state["current"])
        state = step(state, Input.typed("不确定"), who=WHO).state
    assert not {"mother_unreachable", "father_remaining"} & set(asked), asked


def test_a_lower_bound_survives_a_merge_only_while_its_number_does():
    from conversation import told

    first = told.proposed("他妈跑了好几年了")
    assert first[told.AT_LEAST] == ["mother.unreachable_months"]
    kept = told.merge(first, told.proposed("孩子跟奶奶住"))
    assert kept[told.AT_LEAST] == ["mother.unreachable_months"] and kept["mother"]["unreachable_months"] == 24
    replaced = told.merge(first, told.proposed("他妈去年病死了"))
    assert told.AT_LEAST not in replaced and replaced["mother"] == {"situations": ["deceased"]}


def test_the_place_typed_after_a_story_joins_the_story_not_a_policy_question():
    """A grandmother tells her story where the place is asked, then types the place while the story
    waits for 对: "温岭" joins what was understood (户口 there, since the question asked where the 户口
    is) and is never sent to the knowledge base as a question ("没有把握回答")."""
    state = _walk(["我是孩子奶奶", "他爸前年出车祸走了"])
    assert state["stage"] == "intake" and state["proposed"]["back_to"] == "questions"
    out = step(state, Input.typed("温岭"), who=WHO)
    text = "\n".join(render_reply(r) for r in out.replies)
    assert out.state["stage"] == "intake" and "没有把握" not in text, text
    assert "父亲：已去世" in text and "地区：温岭" in text, text
    state = _walk_on(out.state, ["对"])
    facts = facts_of(state)
    assert facts["region"] == "温岭" and facts["child"]["hukou_local"] is True
    assert facts["father"]["situations"] == ["deceased"]
    assert state["stage"] == "questions" and state["current"] not in ("region", "hukou")


@pytest.mark.parametrize("typed", ["不清楚", "不知道", "他妈也不怎么管"])
def test_a_stray_word_at_a_proposal_shows_it_again_and_is_no_question_for_the_knowledge_base(typed):
    """At "对吗？", "不清楚" matched a Q&A about deleting one's data, and "他妈也不怎么管" (不怎么: how
    she is, not a question) got "这个问题我没有把握回答". Now: a kind line, what was told kept
    for the office, and the same proposal with its two buttons."""
    state = _walk(["温岭", "安全的", "5岁", "爸妈都在外面打工"])
    assert state["stage"] == "intake", state["stage"]
    out = step(state, Input.typed(typed), who=WHO)
    assert [r.template for r in out.replies] == ["intake_unsure", "intake_confirm"]
    text = "\n".join(render_reply(r) for r in out.replies)
    assert "父亲：外出务工" in text and "没有把握" not in text, text
    assert ("您说的话我记下了" in text) == (len(typed) >= 6)
    assert out.state["stage"] == "intake" and out.state["proposed"] == state["proposed"]
    if len(typed) >= 6:
        assert out.state["told"][-1]["text"] == typed


def test_不怎么_tells_how_a_parent_is_it_does_not_ask():
    from conversation import told

    assert not told.is_question("他妈也不怎么管") and not told.is_question("他爸一年到头不怎么回来")
    assert told.is_question("怎么申请") and told.is_question("这样可以么") and told.is_question("不怎么办呢？")
