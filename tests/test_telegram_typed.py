"""Typed answers through the real python-telegram-bot Application (issue 12 items 1 and 2): what a
grandmother types is understood at every step, a story at any question is proposed for
confirmation and shows in the summary, nothing known is asked again, and safety is asked once."""

from __future__ import annotations

import asyncio
import re

from tg import Harness

GRANDMA = 7001


def run(tmp_path, scenario):
    async def go():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await scenario(h)
            assert h.request.problems == []
    asyncio.run(go())


async def typed_until_summary(h: Harness, user: int, answers: dict[str, str], limit: int = 30) -> str:
    """Type (never press) the answer to each question by its prompt; "不确定" elsewhere."""
    for _ in range(limit):
        last = h.request.sent_texts(user)[-1]
        if "问完了" in last:
            return last
        await h.say(user, next((a for words, a in answers.items() if words in last), "不确定"))
    raise AssertionError("the questionnaire did not end")


def test_everyday_answers_typed_are_understood_and_no_negation_flips(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        out = await h.say(GRANDMA, "我是孩子奶奶")
        assert "孩子的户口在哪个地方" in out
        out = await h.say(GRANDMA, "户口在通化")
        assert "孩子现在安全吗" in out and "没有把握" not in out
        summary = await typed_until_summary(h, GRANDMA, {
            "孩子现在安全吗": "安全的", "孩子多大": "9岁了", "户口就在这个地方吗": "对",
            "父母现在是什么情况": "不一样，分开说吧", "孩子的父亲": "坐牢了", "父亲还要": "还剩一年八个月", "孩子的母亲": "在家",
            "被政府认定为下面哪一种": "一项一项问我", "家里是低保户吗": "不是低保户",
            "跟谁生活": "跟奶奶", "生活、给孩子看病或上学，有困难吗": "嗯"})
        assert "户口所在地：通化" in summary
        assert "孩子现在安全吗：安全，有人照顾" in summary
        assert "孩子的年龄：9岁" in summary
        assert "父亲的情况：在坐牢（服刑）" in summary and "父亲还要关多久：1年8个月" in summary
        assert "母亲的情况：在身边照顾孩子" in summary
        assert "是不是低保户：不是" in summary and "低保户：是" not in summary
        assert "孩子跟谁生活：跟爷爷奶奶、外公外婆等亲戚" in summary
        steps = [tuple(map(int, m)) for t in h.request.sent_texts(GRANDMA)
                 for m in re.findall(r"第(\d+)步，约(\d+)步", t)]
        assert len(steps) > 8
        for (s1, t1), (s2, t2) in zip(steps, steps[1:]):
            assert t2 <= t1 + 1, f"the progress line grew from 约{t1}步 to 约{t2}步"
    run(tmp_path, scenario)


def test_went_away_gets_one_short_question_never_death(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        await h.say(GRANDMA, "我是孩子奶奶")
        await h.say(GRANDMA, "温岭")
        await h.unsure_until(GRANDMA, "孩子的父母现在是什么情况")
        await h.say(GRANDMA, "不一样")
        out = await h.say(GRANDMA, "去年过完年就走了，快一年了")
        labels = [b["text"] for b in h.buttons(GRANDMA)]
        assert "是下面哪一种" in out and labels == ["外出打工", "联系不上、不管孩子（失联）"]
        out = await h.say(GRANDMA, "走了")
        assert [b["text"] for b in h.buttons(GRANDMA)] == ["已去世", "外出打工", "联系不上、不管孩子（失联）"]
        out = await h.say(GRANDMA, "2")  # the clarifying question's second button
        assert "孩子的父亲" not in out
        summary = await typed_until_summary(h, GRANDMA, {})
        assert "父亲的情况：外出打工" in summary and "已去世" not in summary
    run(tmp_path, scenario)


def test_a_story_at_the_place_question_is_proposed_and_the_place_stays_a_place(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        await h.say(GRANDMA, "我是孩子奶奶")
        out = await h.say(GRANDMA, "孩子他爸去年车祸去世了，他妈跟人跑了三年没有音讯")
        assert "父亲：已去世" in out and "对吗" in out
        out = await h.say(GRANDMA, "对")
        assert "孩子的户口在哪个地方" in out, "no place in the story: the place is asked, not taken from it"
        out = await h.say(GRANDMA, "重庆齐江")
        assert "重庆市綦江区" in out
        summary = await typed_until_summary(h, GRANDMA, {"孩子多大": "10岁", "户口就在这个地方吗": "是"})
        assert "户口所在地：重庆齐江（按“重庆市綦江区”的政策）" in summary
        assert "父亲：已去世" in summary and "母亲：" in summary, "confirmed story facts show in the summary"
        assert "孩子的父亲" not in "\n".join(h.request.sent_texts(GRANDMA)[-12:]), "the father is not asked again"
    run(tmp_path, scenario)


def test_safety_is_asked_once_and_not_after_abuse_was_confirmed(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        await h.press(GRANDMA, "我是孩子的家人")
        out = await h.say(GRANDMA, "温岭，孩子他后爸经常打孩子")
        assert "110" in out and "对吗" in out
        out = await h.say(GRANDMA, "嗯")
        await typed_until_summary(h, GRANDMA, {"孩子多大": "9岁"})
        sent = "\n".join(h.request.sent_texts(GRANDMA))
        assert "孩子现在安全吗" not in sent
    run(tmp_path, scenario)


def test_button_labels_and_stage_words_typed_and_a_number_after_a_reply_without_buttons(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        await h.say(GRANDMA, "奶奶")
        await h.say(GRANDMA, "温岭")
        await typed_until_summary(h, GRANDMA, {"孩子现在安全吗": "安全", "孩子多大": "9岁", "户口就在这个地方吗": "是",
                                               "父母现在是什么情况": "都死了"})
        out = await h.say(GRANDMA, "没问题，看结果")
        assert "孤儿" in out
        out = await h.say(GRANDMA, "要带的材料")
        assert "死亡" in out
        out = await h.say(GRANDMA, "回到结果")
        assert "孤儿" in out
        result_buttons = [b["text"] for b in h.buttons(GRANDMA)]
        await h.say(GRANDMA, "/status")
        assert not [c for c in h.request.calls("sendMessage")][-1].params.get("reply_markup")
        number = 1 + result_buttons.index(next(b for b in result_buttons if "要带的材料" in b))
        out = await h.say(GRANDMA, str(number))  # no buttons on /status: the number means the result's button
        assert "死亡" in out and "没有把握" not in out
        out = await h.say(GRANDMA, "改答案")
        assert "问完了" in out or "到现在的回答" in out
        await h.say(GRANDMA, "没问题，看结果")
        out = await h.say(GRANDMA, "提交预申请")
        assert "同意" in out
        out = await h.say(GRANDMA, "同意")
        assert "申请人" in out
        await h.say(GRANDMA, "王秀英")
        out = await h.say(GRANDMA, "我是孩子奶奶")
        assert "手机号" in out, "奶奶 at the relation question is 祖父母"
    run(tmp_path, scenario)


def test_a_place_typed_first_is_the_place_not_a_policy_question(tmp_path):
    async def scenario(h: Harness):
        await h.say(GRANDMA, "/start")
        out = await h.say(GRANDMA, "户口在通化")
        assert "孩子现在安全吗" in out and "依据" not in out and "没有把握" not in out
        summary = await typed_until_summary(h, GRANDMA, {})
        assert "户口所在地：通化" in summary
        assert "户口就在这个地方吗" not in "\n".join(h.request.sent_texts(GRANDMA)), "户口在通化 said it"
    run(tmp_path, scenario)
