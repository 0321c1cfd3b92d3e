"""The whole typed-answer table (tests/typed/answers.yaml, issue 12 item 1) through the real
python-telegram-bot Application and the real database: each row's family is put at its question
(its conversation state saved as the bot saves it), types the row's text as a Telegram message, and
the state the bot saved afterwards holds the row's fact — or the one short clarifying question with
exactly the row's buttons, or the story proposed for confirmation, or the question asked again."""

from __future__ import annotations

import asyncio

from sqlmodel import Session

from conversation import questionnaire as qn
from storage import repo
from test_typed_answers import ROWS, state_at
from tg import Harness

FIRST_USER = 810000


def _verdict(qid: str, text: str, expected, neg: bool, state: dict, buttons: list[str]) -> str | None:
    """What is wrong with this row's outcome (None: it is right)."""
    answer = state["answers"].get(qid)
    if isinstance(expected, dict) and "clarify" not in expected:
        if answer is None:
            return "not understood"
        if qid == "region":
            return None if answer["set"]["region"] == expected["region"] else f"place {answer['set']}"
        got = {p: answer["set"].get(p, "unset") for p in expected}
        if got != expected or not expected and answer["set"]:
            return f"taken as {answer['set']}"
        no = [c["label"] for c in qn.BY_ID[qid].get("choices", []) if c.get("polar") == "no"]
        if neg and answer["label"] not in no and any(v not in (False, None, [], "none") for v in answer["set"].values()):
            return f"a negation flipped: {answer['set']}"
        return None
    if expected == "story":
        return None if state["stage"] == "intake" else f"not proposed as a story (stage {state['stage']})"
    if expected == "ask_again":
        return None if answer is None and state["current"] == qid else f"taken as {answer}"
    if answer is not None:
        return f"taken as {answer['set']}: one short question was expected"
    wanted = expected.get("clarify") if isinstance(expected, dict) else None
    if wanted and buttons != wanted:
        return f"clarifying buttons {buttons}"
    return None


def test_every_row_of_the_typed_table_through_the_real_application(tmp_path):
    async def scenario(h: Harness) -> list[str]:
        wrong = []
        for n, (qid, text, expected, neg) in enumerate(ROWS):
            user = FIRST_USER + n
            with Session(h.engine) as session, session.begin():
                repo.save_state(session, user_key=f"tg:{user}", state=state_at(qid))
            await h.say(user, text)
            with Session(h.engine) as session:
                state = repo.load_state(session, user_key=f"tg:{user}")
            problem = _verdict(qid, text, expected, neg, state, [b["text"] for b in h.buttons(user)])
            if problem:
                wrong.append(f"{qid}: {text!r}: {problem}")
        assert h.request.problems == []
        return wrong

    async def go() -> list[str]:
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            return await scenario(h)

    wrong = asyncio.run(go())
    assert len(ROWS) >= 300
    assert wrong == [], f"{len(wrong)} of {len(ROWS)} rows:\n" + "\n".join(wrong)
