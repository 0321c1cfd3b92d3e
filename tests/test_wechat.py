"""The 公众号 at /wechat through the real app over HTTP, driven by a fake WeChat (botapi_fakes/wechat.py)
that signs and encrypts as WeChat does and receives the account's customer-service calls.

The app is the real web app (web/app.py, which mounts the WeChat sub-app at /wechat) served by uvicorn
in a thread on 127.0.0.1, on a real SQLite database; tests/test_wechat_process.py runs `bot.py web`.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import uvicorn
from sqlmodel import Session

from botapi_fakes.wechat import FakeWeChat
from casework import staff
from policy_kb.loader import load_kb
from policy_kb.places import place_index
from storage import repo
from storage.db import make_engine
from storage.models import Role
from tg import ORPHAN, child_id
from web.app import create_app

TOKEN = "tongzhu-wechat-token"
APP_ID = "wx0123456789abcdef"
SECRET = "0123456789abcdef0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat gives it
STORY = "孩子爸爸前年去世了，妈妈在监狱还有三年，我们在温岭"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Account:
    """The app under uvicorn in a thread; `start(**settings)` (re)starts it with these settings."""

    def __init__(self, wx: FakeWeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.wx, self.tmp_path, self.monkeypatch = wx, tmp_path, monkeypatch
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.engine = None
        self.channel = None

    def start(self, *, deadline: float = 4.5, api: bool = True, aes: bool = True) -> "Account":
        env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_API_BASE_URL": self.wx.api_base_url,
               "WECHAT_PASSIVE_DEADLINE": str(deadline)}
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        for name, value in (("WECHAT_APP_SECRET", SECRET if api else None), ("WECHAT_AES_KEY", AES_KEY if aes else None)):
            if value:
                self.monkeypatch.setenv(name, value)
            else:
                self.monkeypatch.delenv(name, raising=False)
        self.engine = make_engine(f"sqlite:///{self.tmp_path / 'wechat.db'}")
        app = create_app(engine=self.engine)
        self.channel = next(r.app.state.channel for r in app.routes if getattr(r, "path", "") == "/wechat")
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline_at = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline_at, "uvicorn did not start"
            time.sleep(0.01)
        self.wx.url = f"http://127.0.0.1:{port}/wechat/"
        return self

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()  # the sender thread
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = None
        if self.engine is not None:
            self.engine.dispose()


class Family:
    """A family on WeChat: types, or taps an item of the 菜单消息 that follows an answer."""

    def __init__(self, wx: FakeWeChat, openid: str):
        self.wx, self.openid = wx, openid

    def say(self, text: str) -> str:
        return self.wx.send_text(self.openid, text).text or ""

    def press(self, label: str, timeout: float = 10.0) -> str:
        """Tap the item whose words are `label` (without its emoji) in the menu under the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.wx.seen(self.openid)
            if seen and seen[-1].msgtype == "msgmenu":
                break
            numbered = re.findall(r"^(\d+)\. (?:\W+\s*)?(.+)$", seen[-1].text, re.M) if seen else []
            if seen and "请回复数字" in seen[-1].text and numbered:  # more choices than a menu holds
                return self.say(next(n for n, words in numbered if words == label or label in words))
            assert time.monotonic() < deadline, f"no menu under the last answer to tap {label!r}"
            time.sleep(0.02)
        items = seen[-1].menu
        words = [re.sub(r"^\W+\s*", "", i["content"]) for i in items]
        index = words.index(label) if label in words else next(i for i, w in enumerate(words) if label in w)
        return self.wx.tap(self.openid, index).text or ""

    def file_case(self, *, age: int = 9) -> str:
        """From the first message to a filed pre-application, as tests/tg.py's file_case; → the reference."""
        self.wx.subscribe(self.openid)
        self.press("我是孩子的家人")
        self.say("温岭")
        self.press("安全")
        self.say(f"{age}岁")
        for _ in range(30):
            asked = self.wx.texts(self.openid).rsplit("第", 1)[-1]
            if "问完了" in asked:
                break
            last = self.wx.seen(self.openid)[-1]
            chosen = next((label for words, label in ORPHAN.items() if words in asked), None)
            if chosen:
                self.press(chosen)
            elif last.msgtype == "msgmenu" and any(i["content"] == "不确定" for i in last.menu):
                self.press("不确定")
            else:
                self.say("不确定")
        self.press("没问题，看结果")
        self.press("提交预申请")
        self.press("同意")
        self.say("王秀英")
        self.press("祖父母")
        self.say("13812345678")
        self.say("王小明")
        self.say(child_id(age))
        self.say("温岭市城东街道某某村")
        self.press("提交")
        return re.search(r"TZ\d{8}-[0-9A-F]{6}", self.wx.wait_for(self.openid, "TZ")[-1].text
                         if "TZ" in self.wx.seen(self.openid)[-1].text else self.wx.texts(self.openid)).group(0)


def staff_presses(engine, *actions: str) -> None:
    """温岭's staff (at their desk, the same desk code as in Telegram) press these buttons."""
    region = place_index(load_kb()).resolve("温岭").node.name  # as `bot.py staff add … --region 温岭` does
    with Session(engine) as session, session.begin():
        repo.set_role(session, user_key="tg:9001", role=Role.staff, region=region)
    for action in actions:
        staff.handle(engine=engine, user_key="tg:9001", text=None, action=action)


@pytest.fixture
def wx() -> Iterator[FakeWeChat]:
    with FakeWeChat(token=TOKEN, app_id=APP_ID, app_secret=SECRET, aes_key=AES_KEY) as fake:
        yield fake


@pytest.fixture
def account(wx: FakeWeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    acc = Account(wx, tmp_path, monkeypatch)
    yield acc
    acc.stop()


def test_the_url_check_echoes_only_a_correctly_signed_request(wx, account):
    account.start()
    assert wx.verify_url("echo-5839").text == "echo-5839"
    wrong = wx.verify_url("echo-5839", token="not-the-token")
    assert wrong.status_code == 403 and "echo-5839" not in wrong.text
    forged = wx.send_text("o-forged", "你好", token="not-the-token")
    assert forged.status_code == 403 and forged.text is None
    assert wx.custom_calls() == [] and wx.problems == []


def test_subscribe_gets_the_welcome_and_the_role_as_a_menu_a_tap_goes_on(wx, account):
    account.start()
    got = wx.subscribe("o-grandma")
    assert "您好，我是童助" in got.text
    seen = wx.wait_for("o-grandma", "我是孩子的家人")
    menu = wx.last_menu("o-grandma")
    assert [i["content"] for i in menu] == ["我是孩子的家人", "我是儿童主任、督导员或社工，帮一户家庭问"]
    got = wx.tap("o-grandma", "我是孩子的家人")
    assert "孩子的户口在哪里" in got.text or "哪个" in got.text, got.text
    assert wx.problems == [], wx.problems
    assert seen[0].how == "passive"


def test_aes_messages_are_decrypted_and_answered_encrypted(wx, account):
    account.start()
    got = wx.subscribe("o-aes", aes=True)
    assert "您好，我是童助" in got.text
    assert "Encrypt" not in got.xml and got.xml["ToUserName"] == "o-aes"  # the fake decrypted a valid reply
    got = wx.send_text("o-aes", "1", aes=True)
    assert "第" in got.text and "步" in got.text, got.text
    assert wx.problems == [], wx.problems


def test_an_encrypted_message_with_a_wrong_signature_is_refused(wx, account):
    account.start()
    wx.crypto = type(wx.crypto)(TOKEN, "B" * 43, APP_ID)  # another key: the app cannot decrypt
    got = wx.subscribe("o-mallory", aes=True)
    assert got.status_code in (400, 403) and got.text is None
    assert wx.custom_calls() == []


def test_a_retried_message_is_handled_once(wx, account):
    account.start()
    wx.subscribe("o-retry")
    wx.send_text("o-retry", "1")  # the family
    first = wx.send_text("o-retry", "温岭", msg_id=7_000_000_000_000_000_001)
    assert "孩子现在安全吗" in first.text, first.text
    wx.wait_for("o-retry", "不想说")  # the safety question's menu
    again = wx.send_text("o-retry", "温岭", msg_id=7_000_000_000_000_000_001)  # WeChat's retry
    assert again.status_code == 200 and again.text is None, "a retry is not answered a second time"
    nxt = wx.tap("o-retry", 0)  # the safety question is still the one asked: its menu works
    assert nxt.text and "孩子现在安全吗" not in nxt.text, nxt.text
    asked = [s for s in wx.seen("o-retry") if "孩子现在安全吗" in s.text]
    assert len(asked) == 1, "温岭 was taken once: the safety question was asked once"
    assert wx.problems == []


def test_a_typed_number_presses_the_numbered_button(wx, account):
    account.start()
    wx.subscribe("o-number")
    got = wx.send_text("o-number", "1")
    assert "孩子的户口" in got.text or "哪里" in got.text, got.text
    assert wx.problems == []


def test_without_the_api_the_choices_come_numbered_in_the_passive_reply(wx, account):
    account.start(api=False)
    got = wx.subscribe("o-noapi")
    assert "请回复数字" in got.text and "1. 我是孩子的家人" in got.text, got.text
    assert wx.custom_calls() == []
    assert "哪里" in wx.send_text("o-noapi", "1").text


def test_a_refused_menu_falls_back_to_numbered_text(wx, account):
    account.start()
    wx.fail_next(40200, "msgmenu")  # "invalid account type": this account may not send menus
    wx.subscribe("o-nomenu")
    seen = wx.wait_for("o-nomenu", "请回复数字")
    assert "1. 我是孩子的家人" in seen[-1].text
    assert "哪里" in wx.send_text("o-nomenu", "1").text


def test_an_answer_later_than_the_deadline_comes_as_a_customer_service_message(wx, account):
    account.start(deadline=0)  # every answer is "late": the 5 s rule, made deterministic
    got = wx.subscribe("o-slow")
    assert got.status_code == 200 and got.text is None, "answered 'success' at the deadline"
    seen = wx.wait_for("o-slow", "您好，我是童助")
    assert all(s.how == "custom" for s in seen)
    wx.wait_for("o-slow", "我是孩子的家人")
    assert wx.last_menu("o-slow"), "the buttons follow as a 菜单消息"
    assert wx.problems == []


def test_a_family_types_a_story(wx, account):
    account.start()
    wx.subscribe("o-story")
    got = wx.send_text("o-story", STORY)
    assert "父亲：已去世" in got.text and "对吗" in got.text, got.text
    wx.wait_for("o-story", "对，就是这样")
    got = wx.tap("o-story", "对，就是这样")
    assert "孩子现在安全吗" in got.text, got.text
    assert wx.problems == []


def test_a_danger_message_shows_110_first(wx, account):
    account.start()
    wx.subscribe("o-danger")
    got = wx.send_text("o-danger", "孩子他爸喝了酒就打孩子，身上都是伤")
    assert got.text.index("110") < 80, got.text
    assert "孩子的安全最要紧" in got.text
    assert wx.problems == []


def test_voice_uses_the_recognition_else_asks_to_type(wx, account):
    account.start()
    wx.subscribe("o-voice")
    wx.send_text("o-voice", "1")
    heard = wx.send_voice("o-voice", recognition="我们在温岭。")
    assert "孩子现在安全吗" in heard.text, heard.text
    unheard = wx.send_voice("o-voice")
    assert "语音我没听清" in unheard.text and "打字" in unheard.text


@pytest.mark.parametrize("send, word", [("send_image", "照片我看不了"), ("send_location", "位置我看不了"),
                                        ("send_link", "链接我打不开")])
def test_other_kinds_get_a_word_on_what_to_send_instead(wx, account, send, word):
    account.start()
    got = getattr(wx, send)("o-kinds")
    assert word in got.text and "打字" in got.text
    assert wx.problems == []



def test_a_family_files_a_case_typing_and_tapping(wx, account):
    account.start()
    family = Family(wx, "o-files")
    ref = family.file_case()
    assert re.fullmatch(r"TZ\d{8}-[0-9A-F]{6}", ref)
    assert wx.problems == [], wx.problems


def test_a_volunteers_qr_code_links_the_family(wx, account):
    account.start()
    with Session(account.engine) as session, session.begin():
        code = repo.set_role(session, user_key="tg:7001", role=Role.volunteer).referral_code
    got = wx.subscribe("o-referred", scene=code)
    assert "您好，我是童助" in got.text
    with Session(account.engine) as session:
        family, volunteer = (repo.get_user(session, user_key=k) for k in ("wx:o-referred", "tg:7001"))
        assert family.referred_by == volunteer.id, "the volunteer hears of this family's case"


def test_a_typed_label_presses_the_button(wx, account):
    account.start()
    family = Family(wx, "o-label")
    wx.subscribe("o-label")
    assert "哪" in family.say("我是孩子的家人"), "typed as on the menu item"
    family.say("温岭")
    got = family.say("安全，有人照顾")
    assert "孩子现在安全吗" not in got and "第" in got, got
    assert wx.problems == []
def test_a_status_change_reaches_the_family_by_customer_service_message(wx, account):
    account.start()
    family = Family(wx, "o-notice")
    ref = family.file_case()
    before = len(wx.seen("o-notice"))
    staff_presses(account.engine, f"s:accept:{ref}", f"s:dept:{ref}:0")
    seen = wx.wait_for("o-notice", "已受理", after=before)
    assert all(s.how == "custom" for s in seen), "a notice is pushed, not held for a visit"
    assert ref in seen[-1].text or any(ref in s.text for s in seen)
    assert wx.problems == [], wx.problems


def test_outside_the_48_hour_window_a_notice_waits_for_the_next_visit(wx, account):
    account.start()
    family = Family(wx, "o-away")
    ref = family.file_case()
    wx.clock_hours = 49  # the family last wrote two days ago
    before = len(wx.custom_calls("o-away"))
    staff_presses(account.engine, f"s:accept:{ref}", f"s:dept:{ref}:0")
    deadline = time.monotonic() + 15
    while len(wx.custom_calls("o-away")) == before:  # the sender tried: WeChat said 45015
        assert time.monotonic() < deadline, "the sender never tried to deliver the notice"
        time.sleep(0.02)
    assert "已受理" not in wx.texts("o-away")
    got = family.say("你好")  # she comes back: the notice first, in the reply to her message
    assert "已受理" in got and got.index("已受理") < 200, got
    assert wx.problems == [], wx.problems
