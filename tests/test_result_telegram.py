"""The result and its promises as a family sees them in Telegram, through the real Application."""

from __future__ import annotations

import asyncio

from test_casework import add_role, texts_to
from tg import ORPHAN, Harness, file_case

GRANDMA, GUANGZHOU, STAFF = 5101, 5102, 9101


def lines(text: str) -> int:
    return len(text.strip("\n").split("\n"))


async def to_result(h: Harness, user: int, region: str, *, orphan: bool = True) -> str:
    await h.say(user, "/start")
    await h.press(user, "我是孩子的家人")
    await h.say(user, region)
    await h.press(user, "安全")
    await h.say(user, "9岁")
    await h.answer_rest_unsure(user, press=ORPHAN if orphan else None)
    await h.press(user, "没问题，看结果")
    return h.request.sent_texts(user)[-1]


def test_a_grandmother_reads_a_short_result_and_finds_the_rest_behind_its_buttons(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            first = await to_result(h, GRANDMA, "温岭")
            assert lines(first) <= 15, first
            assert "孤儿" in first.split("\n")[1], "the yes category comes first, on its own line"
            top = first[first.index("现在最要紧的帮助"):first.index("以后（成年后）")]
            assert "基本生活" in top.split("\n")[1], "money for living comes first"
            assert "成年后" not in top, "what applies at 18 is not among what matters now"
            assert "住房保障" in first[first.index("以后（成年后）"):].split("\n")[0]
            assert "下一步：到孩子户籍所在地的乡镇" in first and "先带：父母死亡证明" in first
            labels = [b["text"] for b in h.buttons(GRANDMA)]
            for word in ("全部帮助", "要带的材料", "依据", "提交预申请"):
                assert any(word in lab for lab in labels), (word, labels)

            out = await h.press(GRANDMA, "全部帮助")
            assert "【以后（成年后）】" in out and out.index("孤儿基本生活保障") < out.index("【以后（成年后）】")
            assert "印刷受损" not in out
            out = await h.press(GRANDMA, "依据")
            assert "孤儿基本生活保障\n依据：" in out and "二（四）1「" in out
            await h.press(GRANDMA, "回到结果")
            out = await h.press(GRANDMA, "怎么办")
            assert "孤儿认定" in out
            assert "低保审核确认" not in out and "事实无人抚养儿童认定" not in out, "only this family's route"
            out = await h.press(GRANDMA, "要带的材料")
            assert "父母死亡证明" in out
            assert h.request.problems == []
    asyncio.run(scenario())


def test_a_place_without_a_local_policy_is_answered_from_national_rules_and_offers_no_pre_application(tmp_path):
    async def scenario():
        async with Harness(f"sqlite:///{tmp_path / 'bot.db'}") as h:
            first = await to_result(h, GUANGZHOU, "广州")
            assert lines(first) <= 15, first
            assert "国家政策" in first and "12345" in first
            assert "提交预申请" not in first
            everything = h.request.sent_texts(GUANGZHOU)
            assert any("不能提交" in t for t in everything), "the family is told early that it cannot file here"
            assert not any("提交预申请" in b["text"] for b in h.buttons(GUANGZHOU))
            out = await h.press(GUANGZHOU, "要带的材料")
            assert not any("提交预申请" in b["text"] for b in h.buttons(GUANGZHOU))
            out = await h.press_data(GUANGZHOU, "file")  # a forged or old button: refused, nothing started
            assert "同意" not in out
    asyncio.run(scenario())


def test_staff_are_said_to_be_alerted_only_when_someone_of_that_place_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"

    async def scenario():
        async with Harness(url) as h:
            await file_case(h, GRANDMA, story="孩子他叔喝了酒就打孩子")
            filed = h.request.sent_texts(GRANDMA)[-1]
            assert "已经通知" not in filed, "nobody serves 温岭 yet: no promise"
            assert "110" in filed and "12345" in filed and "紧急" in filed

            add_role(url, STAFF, "staff", "温岭")
            out = await h.say(STAFF, "/queue")
            assert "🔴" in out, "the urgent case waits on top for the first staff member"
            ref = await file_case(h, GRANDMA, story="孩子他叔喝了酒就打孩子", child_name="王小红")
            filed = h.request.sent_texts(GRANDMA)[-1]
            assert "已经通知了这里的工作人员" in filed
            assert ref in texts_to(h, STAFF), "and the alert did reach them"
    asyncio.run(scenario())
