"""The engine's buttons through one table, (kind of button, stage) → handler: a button pressed where
its stage does not hold is stale (a kind message and the current question again), never acted on."""

from conversation.engine import ACTIONS, ANY, new_state, step
from conversation.model import Input, Who

WHO = Who(user_key="test:actions")
STAGES = {"role", "questions", "summary", "result", "documents", "consent", "identity", "confirm", "filed", "intake"}


def test_every_entry_names_a_known_stage_and_a_handler():
    assert ACTIONS
    for (kind, stage), handler in ACTIONS.items():
        assert stage in STAGES | {ANY}, (kind, stage)
        assert callable(handler)


def at_questions() -> dict:
    state = step(None, Input.pressed("role:self"), who=WHO).state
    return step(state, Input.typed("温岭"), who=WHO).state


def test_a_button_of_another_stage_is_stale_and_changes_nothing():
    state = at_questions()
    for action in ("submit", "consent:y", "doc:0", "file", "f:relation:0", "role:family", "c:father:1"):
        out = step(state, Input.pressed(action), who=WHO)
        assert [r.template for r in out.replies][:1] == ["stale_button"], action
        assert out.state["answers"] == state["answers"] and out.state["stage"] == "questions"


def test_the_current_question_button_answers_it():
    state = at_questions()
    assert state["current"] == "safety"
    out = step(state, Input.pressed("c:safety:0"), who=WHO)
    assert out.state["answers"]["safety"]["label"] == "安全，有人照顾"
