"""Whole conversations through the real python-telegram-bot Application (issue 3)."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, select

from storage import crypto
from storage.models import Child, Family, PreApplication
from tg import Harness, child_id

GRANDMA = 5001


def run(coro):
    return asyncio.run(coro)


def test_a_family_from_start_to_a_filed_case(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            out = await h.say(GRANDMA, "/start")
            assert "您好，我是童助" in out and "是谁在问" in out
            assert h.request.calls("setMyCommands"), "the bot registers its commands at start"

            await h.press(GRANDMA, "我是孩子的家人")
            out = await h.say(GRANDMA, "温玲")  # a typo for 温岭
            assert "温岭市" in out and "孩子现在安全吗" in out

            await h.press(GRANDMA, "安全")
            out = await h.say(GRANDMA, "八岁")
            assert "孩子家里有没有下面这些情况" in out and "户口" not in out, "温玲 was typed where the 户口 is"
            await h.unsure_until(GRANDMA, "孩子的父母现在是什么情况")
            out = await h.press(GRANDMA, "不一样，分开说")
            assert "孩子的父亲" in out
            out = await h.press(GRANDMA, "已去世")  # the father
            assert "母亲" in out

            # back: the father question again, with the previous answer shown
            out = await h.press(GRANDMA, "返回上一步")
            assert "父亲" in out and "上次您回答的是：已去世" in out
            await h.press(GRANDMA, "已去世")

            # a danger word in the middle of the questionnaire: 110 first, then what was understood,
            # then the same question again
            out = await h.say(GRANDMA, "他叔叔喝了酒就打孩子")
            assert "110" in out and out.index("110") < out.index("孩子遭受虐待") < out.index("对吗")
            out = await h.press(GRANDMA, "对，就是这样")
            assert "母亲" in out

            await h.press(GRANDMA, "已去世")  # the mother
            summary = await h.answer_rest_unsure(GRANDMA)
            assert "温岭" in summary

            # change an answer from the summary: the age
            await h.press(GRANDMA, "改第3项")
            out = await h.say(GRANDMA, "很小")  # not understood: the same question again, still editing
            assert "没看懂孩子的年龄" in out and "孩子多大了" in out
            out = await h.say(GRANDMA, "9岁")
            assert "问完了" in out and "9岁" in out

            out = await h.press(GRANDMA, "没问题，看结果")
            assert "孤儿" in out and "110" in out  # the urgent case keeps what to do now on top
            out = await h.press(GRANDMA, "依据")
            assert "温市委办发〔2023〕24号" in out and "「" in out

            out = await h.press(GRANDMA, "要带的材料")
            assert "死亡" in out
            before = len(h.request.calls("editMessageText"))
            await h.press(GRANDMA, "☐")
            assert len(h.request.calls("editMessageText")) == before + 1, "a tick edits the checklist in place"

            out = await h.press(GRANDMA, "提交预申请")
            assert "同意" in out and "14周岁" in out
            await h.press(GRANDMA, "同意")
            await h.say(GRANDMA, "王秀英")
            await h.press(GRANDMA, "祖父母")
            out = await h.say(GRANDMA, "1381234567")
            assert "11位" in out
            await h.say(GRANDMA, "13812345678")
            await h.say(GRANDMA, "王小明")
            good = child_id(9)
            wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
            out = await h.say(GRANDMA, wrong)
            assert "对不上" in out and "身份证" in out
            out = await h.say(GRANDMA, child_id(3))
            assert "年龄对不上" in out
            await h.say(GRANDMA, good)
            out = await h.say(GRANDMA, "温岭市城东街道某某村")
            assert "138****5678" in out and good not in out
            out = await h.press(GRANDMA, "提交")
            assert "预申请编号：TZ" in out
            # a double tap on 提交 files nothing more
            out = await h.press_data(GRANDMA, "submit")
            assert "已经提交过了" in out

            out = await h.say(GRANDMA, "/status")
            assert "已提交" in out and "王小明" in out
            assert h.request.problems == []

            with Session(h.engine) as s:
                cases = s.exec(select(PreApplication)).all()
                assert len(cases) == 1 and cases[0].urgent and cases[0].kb_version
                child = s.exec(select(Child)).one()
                family = s.exec(select(Family)).one()
                assert good not in child.id_enc and crypto.decrypt(child.id_enc) == good
                assert "13812345678" not in family.phone_enc and family.phone_masked == "138****5678"
    run(scenario())


def test_a_photo_gets_a_kind_word_and_an_unknown_command_a_list(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await h.say(GRANDMA, "/start")
            out = await h.say(GRANDMA, "/foo")
            assert "/status" in out and "是谁在问" in out
            assert h.request.problems == []
    run(scenario())


def test_a_stale_button_changes_nothing(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await h.say(GRANDMA, "/start")
            await h.press(GRANDMA, "我是孩子的家人")
            await h.say(GRANDMA, "温岭")
            out = await h.press_data(GRANDMA, "c:father:1")  # a button of a question not asked now
            assert "已经不管用了" in out and "安全" in out
    run(scenario())


def test_a_number_typed_for_the_place_is_not_taken_for_a_place(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            await h.say(GRANDMA, "/start")
            await h.press(GRANDMA, "我是孩子的家人")
            out = await h.say(GRANDMA, "2")
            assert "县（市、区）名字" in out and "孩子的户口在哪个地方" in out
            out = await h.say(GRANDMA, "温岭")
            assert "孩子现在安全吗" in out
    run(scenario())
