"""Free text through the real Application (issue 5): a told story becomes confirmed facts and a
shorter questionnaire; a question is answered with its source; off-topic text gets no invented policy."""

from __future__ import annotations

import asyncio

from tg import Harness

STORY = "孩子爸爸前年去世了，妈妈在监狱还有三年，我们在温岭"


def questions_in(texts: list[str]) -> int:
    return sum(1 for t in texts if t.startswith("第") and "步，约" in t)


async def _to_summary(h: Harness, user: int, story: bool) -> int:
    start = len(h.request.sent_texts(user))
    await h.say(user, "/start")
    if story:
        out = await h.say(user, STORY)
        assert "父亲：已去世" in out and "剩余36个月" in out and "对吗" in out
        out = await h.press(user, "对，就是这样")
        assert "孩子现在安全吗" in out, "the place came from the story: the next question is safety"
    else:
        await h.press(user, "我是孩子的家人")
        await h.say(user, "温岭")
    answers = {"孩子现在安全吗": "安全", "孩子多大": "8岁", "户口就在这个地方吗": "是"}
    if not story:
        answers.update({"父母现在是什么情况": "不一样", "孩子的父亲": "已去世", "孩子的母亲": "在坐牢", "母亲还要": "3年"})
    summary = await h.answer_by_prompt(user, answers)
    assert "父亲" in summary or "您讲的情况" in summary
    return questions_in(h.request.sent_texts(user)[start:])


def test_a_told_story_becomes_confirmed_facts_and_a_shorter_questionnaire(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            told = await _to_summary(h, 6001, story=True)
            asked = await _to_summary(h, 6002, story=False)
            assert told < asked, (told, asked)
            out = await h.press(6001, "没问题，看结果")
            assert "事实无人抚养" in out or "孤儿" in out
            assert h.request.problems == []
    asyncio.run(scenario())


def test_questions_are_answered_with_their_source_and_off_topic_is_not_invented(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await h.say(6003, "/start")
            out = await h.say(6003, "/ask 温岭低保户的孩子能领多少钱")
            assert "依据：温市委办发〔2023〕24号" in out and "200" in out
            out = await h.say(6003, "今天天气怎么样")
            assert "没有把握" in out and "依据" not in out and "12345" in out
            assert "是谁在问" in out, "then back to where the user was"
            assert h.request.problems == []
    asyncio.run(scenario())


def test_a_question_after_the_result_is_answered_without_repeating_the_result(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await _to_summary(h, 6004, story=True)
            await h.press(6004, "没问题，看结果")
            out = await h.say(6004, "失联要多久才算")
            assert "依据" in out and "孩子可以申请" not in out, "the answers, not the whole result again"
            assert any(b["callback_data"] == "result" for b in h.buttons(6004))
    asyncio.run(scenario())
