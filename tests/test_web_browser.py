"""The family web chat in a real browser: Debian's Chromium (Playwright) with WeChat's user agent on a
390×844 phone, JavaScript on and off, against the real `python bot.py web` process and its SQLite
database. A family types its story and taps its way to a filed case; a danger message shows 110
first as a tel: link; the server is killed and restarted and the family goes on; a volunteer's
referral link links the family.

Skipped, saying why, only where Chromium (or Playwright) is absent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from e2e.web import CHROMIUM, CHROMIUM_ARGS, PHONE, WECHAT_UA, WebServer, chromium_missing

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")

DOCS = Path(__file__).resolve().parent.parent / "docs"
STORY = "孙子9岁，户口在温岭，爸爸妈妈都去世了，跟着我生活"
# a family's way through the questions: the first of these buttons that the screen offers
# ("是" only where no "不是" is offered: the 户口 question, whose other answer is "不是，户口在外地")
PREFERRED = ("安全，有人照顾", "都不是", "都没有", "还过得去", "没有", "不是", "是", "不确定")


def label(key: str) -> str:
    from templates import label as template_label

    return template_label(key)


def child_id(age: int) -> str:
    from stdnum.cn import ric

    today = dt.date.today()
    birth = dt.date(today.year - age - 1, today.month, 1) + dt.timedelta(days=40)  # birthday passed this year
    body = f"331081{birth:%Y%m%d}123"
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 of 18 characters


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'web.db'}"


@pytest.fixture
def server(db_url, tmp_path):
    web = WebServer(db_url, log=tmp_path / "web.log").start()
    try:
        yield web.wait_ready()
    finally:
        web.kill()


def phone(browser, *, js: bool):
    context = browser.new_context(user_agent=WECHAT_UA, viewport=PHONE, java_script_enabled=js, locale="zh-CN",
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    context.set_default_timeout(15_000)
    return context


class Family:
    """A person on the phone: reads the newest turn, taps its buttons, types in the box."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base

    def open(self, path: str = "/") -> "Family":
        self.page.goto(self.base + path)
        return self

    @property
    def turn(self):
        return self.page.locator("#log .turn").last

    def _after(self, act) -> None:
        from playwright.sync_api import expect

        before = self.turn.get_attribute("id")
        act()
        expect(self.turn).not_to_have_id(before)  # the new turn is there (appended, or a new page)

    def tap(self, name: str) -> None:
        button = self.page.locator("#log").get_by_role("button", name=name, exact=True).filter(visible=True).last
        assert button.count(), f"no button {name!r} on the screen: {self.turn.inner_text()}"
        self._after(button.click)

    def type(self, text: str) -> None:
        def act():
            self.page.locator("#text").fill(text)
            self.page.get_by_role("button", name="发送", exact=True).click()
        self._after(act)

    def sees(self, text: str) -> bool:
        return text in self.turn.inner_text()

    def buttons(self) -> list[str]:
        return [b.strip() for b in self.turn.locator("button").all_inner_texts()]


def answer_until_result(family: Family, limit: int = 25) -> None:
    """Tap the family's answers until the summary offers the result; then see it."""
    for _ in range(limit):
        offered = family.buttons()
        if label("see_result") in offered:
            family.tap(label("see_result"))
            return
        choice = next((b for b in PREFERRED if b in offered), None)
        assert choice is not None, f"no answer for this screen: {family.turn.inner_text()}"
        family.tap(choice)
    raise AssertionError(f"no result after {limit} answers: {family.turn.inner_text()}")


def case_in_db(db_url: str):
    from sqlmodel import Session, select

    from storage.db import make_engine
    from storage.models import PreApplication, User

    engine = make_engine(db_url, migrate=False)
    with Session(engine) as session:
        rows = session.exec(select(PreApplication, User).join(User, User.id == PreApplication.filer_id)).all()
        return [(case.reference, case.place, user.user_key) for case, user in rows]


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_a_family_types_and_taps_from_the_first_screen_to_a_filed_case(browser, server, db_url, js):
    context = phone(browser, js=js)
    page = context.new_page()
    family = Family(page, server.base).open()
    assert family.sees("您好，我是童助")
    assert label("role_self") in family.buttons()
    shots = js and os.environ.get("TONGZHU_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(DOCS / "web-first-screen.png"))

    family.type(STORY)  # a story, typed
    assert family.sees("我听明白的是")
    family.tap(label("intake_yes"))
    answer_until_result(family)
    assert family.sees("孤儿"), family.turn.inner_text()  # the category the story makes sure
    assert label("file") in family.buttons()
    if shots:
        page.locator("#log .turn").last.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(DOCS / "web-result.png"))

    family.tap(label("file"))
    family.tap(label("consent_guardian"))
    family.type("王秀英")
    family.tap("祖父母")
    family.type("138 1234 5678")
    family.type("王小明")
    family.type("12345")  # a wrong number first: a kind message, the same question again
    assert family.sees("身份证")
    family.type(child_id(9))
    family.type("温岭市城东街道某某村")
    assert family.sees("王小明"), family.turn.inner_text()
    family.tap(label("submit"))
    reference = re.search(r"TZ\d{8}-[0-9A-F]{6}", family.turn.inner_text())
    assert reference, family.turn.inner_text()

    cases = case_in_db(db_url)
    assert [(ref, key.split(":")[0]) for ref, _, key in cases] == [(reference.group(0), "web")]
    assert "温岭" in cases[0][1]

    # the office starts reviewing: the family sees it at her next visit, with an unread count
    office_reviews(db_url, reference.group(0))
    family.open()
    assert page.locator(".top .unread .badge").inner_text() == "1"
    news = page.locator(".news").inner_text()
    assert reference.group(0) in news and "审核中" in news
    assert family.buttons()  # and she still has her buttons
    family.open()  # seen once: not new any more
    assert page.locator(".top .unread").count() == 0
    context.close()


def office_reviews(db_url: str, reference: str) -> None:
    """Staff of 温岭 press 审核中 on the case (casework/staff.py, as the Telegram desk does)."""
    from sqlmodel import Session

    from casework import staff
    from policy_kb.loader import load_kb
    from policy_kb.places import place_index
    from storage import repo
    from storage.db import make_engine
    from storage.models import Role

    engine = make_engine(db_url, migrate=False)
    region = place_index(load_kb()).resolve("温岭").node.name
    with Session(engine) as session, session.begin():
        repo.set_role(session, user_key="tg:9001", telegram_id=9001, role=Role.staff, region=region)
    staff.handle(engine=engine, user_key="tg:9001", text=None, action=f"s:review:{reference}")


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_a_danger_message_shows_110_first_as_a_tel_link(browser, server, js):
    context = phone(browser, js=js)
    family = Family(context.new_page(), server.base).open()
    family.type("孩子被他爸打了，现在身上都是伤")
    links = family.turn.locator("a[href^='tel:']")
    assert links.first.get_attribute("href") == "tel:110"
    box = links.first.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 200  # easy to tap
    assert links.count() >= 2  # and the hotlines after it
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_family_goes_on_after_the_server_is_killed_and_restarted(browser, server, js):
    context = phone(browser, js=js)
    family = Family(context.new_page(), server.base).open()
    family.tap(label("role_self"))
    family.type("温岭")
    assert family.sees("孩子现在安全吗")

    server.kill()
    server.start().wait_ready()
    family.open()
    assert family.sees("孩子现在安全吗")  # where she was; nothing asked again
    code = family.page.locator("#code").inner_text()

    other = phone(browser, js=js)  # another phone: the code written down on paper, typed in lower case
    grandson = Family(other.new_page(), server.base).open()
    assert grandson.sees("您好，我是童助")
    grandson.page.get_by_text("输入接续码").click()
    grandson.page.locator("#resume-code").fill(code.lower())
    grandson._after(grandson.page.get_by_role("button", name="接着问", exact=True).click)
    assert grandson.sees("孩子现在安全吗")
    grandson.tap("安全，有人照顾")
    assert not grandson.sees("孩子现在安全吗")
    assert grandson.page.locator("#code").inner_text() == code
    other.close()

    family.open()  # and the first phone goes on from there too
    assert not family.sees("孩子现在安全吗")
    context.close()


def test_the_volunteer_referral_link_links_the_family(browser, server, db_url):
    from sqlmodel import Session, select

    from storage import repo
    from storage.db import make_engine
    from storage.models import Role, User

    engine = make_engine(db_url, migrate=False)
    with Session(engine) as session, session.begin():
        code = repo.set_role(session, user_key="tg:7001", telegram_id=7001, role=Role.volunteer).referral_code

    context = phone(browser, js=False)
    family = Family(context.new_page(), server.base).open(f"/?ref={code}")
    assert family.sees("您好，我是童助")
    family.tap(label("role_self"))
    with Session(engine) as session:
        volunteer = session.exec(select(User).where(User.user_key == "tg:7001")).one()
        families = session.exec(select(User).where(User.referred_by == volunteer.id)).all()
    assert [u.user_key.split(":")[0] for u in families] == ["web"]
    context.close()


def test_the_page_fits_a_small_phone(browser, server):
    """360×640 (a cheap phone in WeChat): no sideways scrolling, buttons at least 44 px, text 16 px."""
    context = browser.new_context(user_agent=WECHAT_UA, viewport={"width": 360, "height": 640}, is_mobile=True)
    page = context.new_page()
    family = Family(page, server.base).open()
    family.tap(label("role_self"))
    family.type("温岭")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    for button in page.locator("button:visible").all():
        assert button.bounding_box()["height"] >= 44, button.inner_text()
    sizes = page.locator("#log .text, button, textarea, .foot p").evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes and min(sizes) >= 16
    context.close()
