"""A family filing a pre-application through the real conversation engine and case service (no
channel in between): for the desk's tests and its benchmark (bench/desk.py).

    family = Family(engine, "web:grandma-1")
    ref = family.file_case(region="温岭", age=9, story="孩子爸妈都不在了", child_name="王小明")
"""

from __future__ import annotations

import datetime as dt
import itertools

from stdnum.cn import ric

from casework.service import CaseService
from conversation.model import Input, Reply
from conversation.session import handle
from templates import render_reply

_areas = {"温岭": "331081", "綦江": "500110", "重庆綦江区": "500110", "门头沟": "110109", "通化": "220502"}
_seq = itertools.count(100)


def child_id(age: int, area: str = "331081", seq: int | None = None) -> str:
    """A valid 公民身份号码 for a child who is `age` today (a different one each call)."""
    today = dt.date.today()
    n = next(_seq) if seq is None else seq
    birth = dt.date(today.year - age, 1, 1) + dt.timedelta(days=n % 300)
    if birth > dt.date(today.year - age, today.month, today.day):
        birth = dt.date(today.year - age - 1, 6, 1)
    body = f"{area}{birth:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


class Family:
    def __init__(self, engine, user_key: str, services: CaseService | None = None):
        self.engine, self.user_key = engine, user_key
        self.services = services or CaseService(engine=engine)
        self.replies: list[Reply] = []
        self.notices = []

    def send(self, text: str = "", action: str | None = None) -> str:
        outcome = handle(engine=self.engine, services=self.services, user_key=self.user_key,
                         inp=Input(text=text, action=action))
        self.replies = outcome.replies
        self.notices += outcome.notices
        return "\n".join(render_reply(r) for r in outcome.replies)

    def buttons(self):
        last = next((r for r in reversed(self.replies) if r.buttons), None)
        return last.flat_buttons if last else []

    def press(self, label: str) -> str:
        for button in self.buttons():
            if label in button.label:
                return self.send(action=button.action)
        raise AssertionError(f"no button {label!r} in {[b.label for b in self.buttons()]}")

    def answer_rest_unsure(self, limit: int = 30) -> None:
        for _ in range(limit):
            text = "\n".join(render_reply(r) for r in self.replies)
            if "问完了" in text:
                return
            if any(b.label == "不确定" for b in self.buttons()):
                self.press("不确定")
            else:
                self.send("不确定")
        raise AssertionError("the questionnaire did not end")

    def answer_questions(self, age: int, limit: int = 40) -> None:
        """The rest of the questionnaire: the age, 户口 here, both parents 已去世, else 不确定."""
        for _ in range(limit):
            text = "\n".join(render_reply(r) for r in self.replies)
            labels = [b.label for b in self.buttons()]
            if "问完了" in text:
                return
            if "多大" in text:
                self.send(f"{age}岁")
            elif "都去世了" in labels or "已去世" in labels:
                self.press("都去世了" if "都去世了" in labels else "已去世")
            elif "户口" in text and "是" in labels:
                self.send(action=next(b.action for b in self.buttons() if b.label == "是"))
            elif "不确定" in labels:
                self.send(action=next(b.action for b in self.buttons() if b.label == "不确定"))
            else:
                self.send("不确定")
        raise AssertionError("the questionnaire did not end")

    def file_case(self, *, region: str = "温岭", age: int = 9, story: str | None = None, for_family: bool = False,
                  child_name: str = "王小明", applicant: str = "王秀英", number: str | None = None,
                  safe: bool = True) -> str:
        self.send("/restart")
        self.press("帮一户家庭问" if for_family else "我是孩子的家人")
        self.send(region)
        self.press("安全" if safe else "没人管")
        if story:
            self.send(story)
            self.press("对，就是这样")
        self.answer_questions(age)
        self.press("没问题，看结果")
        self.press("提交预申请")
        self.press("同意")
        self.send(applicant)
        self.press("祖父母")
        self.send("13812345678")
        self.send(child_name)
        self.send(number or child_id(age, _areas.get(region, "331081")))
        self.send(f"{region}某某村")
        out = self.press("提交")
        return next(w for w in out.replace("：", " ").replace("，", " ").split() if w.startswith("TZ"))
