"""The office desk in a real browser (Chromium through Playwright) against the desk served by a real
`python bot.py web` process on a real database: what a staff member at a desktop would do and see.

Cases are filed by families through the real conversation engine and case service
(bench/caseload.py); accounts are made with the real `bot.py staff add` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from sqlmodel import Session, select

from bench.caseload import Family
from conftest import REPO
from e2e.web import CHROMIUM, CHROMIUM_ARGS, WebServer, chromium_missing
from storage.db import make_engine
from storage.models import AuditLog, PreApplication, Status, User

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")
# The screenshots in docs/ are made with TONGZHU_SCREENSHOTS=1; otherwise they go to a temporary folder,
# so that running the tests leaves the working tree as it was.
DOCS = Path(REPO) / "docs" if os.environ.get("TONGZHU_SCREENSHOTS") == "1" else None


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(DATABASE_URL=db_url, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", DESK_MAX_FAILURES="3",
               DESK_LOGIN_PER_MINUTE="60")  # every test signs in from 127.0.0.1
    return env


def staff_add(db_url: str, username: str, *args: str, password: str) -> None:
    done = subprocess.run([sys.executable, str(REPO / "bot.py"), "staff", "add", username, *args, "--password-stdin"],
                          input=password + "\n", capture_output=True, text=True, env=_env(db_url), cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A database with two places' cases and accounts, and the desk served by `python bot.py web` on it."""
    tmp = tmp_path_factory.mktemp("desk")
    db_url = f"sqlite:///{tmp / 'desk.db'}"
    os.environ["DATABASE_URL"] = db_url
    engine = make_engine(db_url)
    grandma = Family(engine, "web:grandma-wenling")
    ref = grandma.file_case(region="温岭", child_name="王小明", story="孩子的爸爸妈妈都去世了，现在跟着我过")
    # More of the place's families, so the queue looks like a morning's work: an urgent one first.
    Family(engine, "web:neighbour-1").file_case(region="温岭", age=6, child_name="陈小雨", applicant="陈美华")
    urgent_ref = Family(engine, "web:neighbour-2").file_case(
        region="温岭", age=12, child_name="周浩然", applicant="周建国",
        story="孩子爸妈都去世了，跟着舅舅过，舅舅喝了酒就打他，身上都是伤")
    Family(engine, "web:neighbour-3").file_case(region="温岭", age=15, child_name="林佳怡", applicant="林阿婆",
                                                 for_family=True)
    other_ref = Family(engine, "web:grandma-qijiang").file_case(region="綦江", child_name="李小红",
                                                                applicant="李桂兰")
    staff_add(db_url, "wang", "--role", "staff", "--region", "温岭", password="wenling desk 2026")
    staff_add(db_url, "chen", "--role", "staff", "--region", "綦江", password="qijiang desk 2026")
    staff_add(db_url, "boss", "--role", "admin", password="the admin password")
    # every test signs in from 127.0.0.1
    server = WebServer(db_url, log=tmp / "web.log", env={"DESK_MAX_FAILURES": "3", "DESK_LOGIN_PER_MINUTE": "60"})
    server.start().wait_ready()
    try:
        yield {"base": server.base, "engine": engine, "ref": ref, "other_ref": other_ref, "grandma": grandma,
               "urgent_ref": urgent_ref}
    finally:
        server.kill()
        engine.dispose()
        os.environ.pop("DATABASE_URL", None)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(browser, base: str, username: str, password: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/desk/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page


def shot(page, name: str, tmp_path) -> None:
    page.screenshot(path=str((DOCS or tmp_path) / name), full_page=True)


def test_staff_review_ask_for_two_documents_at_once_and_accept(desk, browser, tmp_path):
    base, ref, other_ref, grandma = desk["base"], desk["ref"], desk["other_ref"], desk["grandma"]
    page = login(browser, base, "wang", "wenling desk 2026")
    page.wait_for_selector("h1:has-text('预申请待办')")
    queue = page.inner_text("table.list")
    assert ref in queue and "王小明" in queue
    assert other_ref not in queue and "李小红" not in queue, "only the staff member's places"
    assert queue.index(desk["urgent_ref"]) < queue.index(ref), "urgent first"
    shot(page, "desk-queue.png", tmp_path)

    page.click(f"text={desk['urgent_ref']}")
    page.wait_for_selector("text=紧急：请优先处理")
    urgent = page.inner_text("main")
    assert "舅舅喝了酒就打他，身上都是伤" in urgent and "“打他”" in urgent, "the danger in the family's words"
    shot(page, "desk-case.png", tmp_path)
    page.goto(f"{base}/desk/")

    page.click(f"text={ref}")
    page.wait_for_selector("h2:has-text('家属的回答')")
    body = page.inner_text("main")
    assert "王小明" in body and "孤儿" in body and "依据" in body
    assert "孩子的爸爸妈妈都去世了，现在跟着我过" in body, "the story as the family told it"
    assert "138****5678" in body and "13812345678" not in body

    page.click("button:has-text('开始审核')")
    page.wait_for_selector(".pill:has-text('审核中')")
    form = page.locator("form.doclist")
    boxes = form.locator("input[name=doc]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    wanted = [form.locator("label").nth(i).inner_text().strip() for i in (0, 1)]
    boxes.nth(0).check()
    boxes.nth(1).check()
    form.locator("button").click()
    page.wait_for_selector(".pill:has-text('需补充材料')")
    assert "已一次性告知" in page.inner_text("main")

    status = grandma.send("/status")
    assert "需补充材料" in status
    for name in wanted:
        assert name.split("（")[0] in status, (name, status)
    told = family_messages(desk["engine"], "web:grandma-wenling")
    if told is not None:  # the outbox: ONE message naming both documents
        asked = [m for m in told if "有新进展：需补充材料" in m]
        assert len(asked) == 1, told
        assert all(name.split("（")[0] in asked[0] for name in wanted)

    page.select_option("select[name=department]", index=0)
    page.click("button:has-text('已受理')")
    page.wait_for_selector(".pill:has-text('已受理')")
    assert "已受理" in grandma.send("/status")
    told = family_messages(desk["engine"], "web:grandma-wenling")
    if told is not None:
        assert any("已经受理" in m for m in told)
    with Session(desk["engine"]) as s:
        case = s.exec(select(PreApplication).where(PreApplication.reference == ref)).one()
        assert case.status == Status.accepted and case.department
        actions = {a.action for a in s.exec(select(AuditLog).where(AuditLog.case_ref == ref))}
        assert {"open", "status:reviewing", "status:needs_documents", "status:accepted"} <= actions


def family_messages(engine, user_key: str) -> list[str] | None:
    """What the family's channel will show: the outbox's messages for them (None before the outbox)."""
    try:
        from storage import outbox
    except ImportError:
        return None
    from templates import render_reply

    with Session(engine) as s, s.begin():
        return [render_reply(item.reply) for item in outbox.take(s, user_key=user_key)]


def test_staff_of_another_place_gets_403_and_it_is_logged(desk, browser):
    page = login(browser, desk["base"], "chen", "qijiang desk 2026")
    page.wait_for_selector("h1:has-text('预申请待办')")
    assert desk["other_ref"] in page.inner_text("table.list")
    response = page.goto(f"{desk['base']}/desk/case/{desk['ref']}")
    assert response.status == 403
    assert "王小明" not in page.inner_text("body")
    with Session(desk["engine"]) as s:
        refused = s.exec(select(AuditLog).where(AuditLog.case_ref == desk["ref"], AuditLog.allowed == False)).all()  # noqa: E712
        assert refused, "the refusal is in the audit log"


def test_a_post_without_the_csrf_token_is_refused(desk, browser):
    page = login(browser, desk["base"], "chen", "qijiang desk 2026")
    page.wait_for_selector("h1:has-text('预申请待办')")
    ref = desk["other_ref"]
    # The browser's own session cookie, but no token in the form: what a forged cross-site form sends.
    result = page.evaluate("""async (ref) => {
        const r = await fetch('/desk/case/' + ref, {method: 'POST', body: new URLSearchParams({action: 'review'})});
        return r.status; }""", ref)
    assert result == 403
    with Session(desk["engine"]) as s:
        assert s.exec(select(PreApplication).where(PreApplication.reference == ref)).one().status == Status.submitted


def test_the_login_locks_after_repeated_failures(desk, browser):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    for _ in range(3):
        page.goto(f"{desk['base']}/desk/login")
        page.fill("input[name=username]", "chen")
        page.fill("input[name=password]", "a wrong guess")
        page.click("button[type=submit]")
    page.goto(f"{desk['base']}/desk/login")
    page.fill("input[name=username]", "chen")
    page.fill("input[name=password]", "qijiang desk 2026")
    page.click("button[type=submit]")
    assert "已暂时锁定" in page.inner_text("main")
    assert page.url.endswith("/desk/login")
    with Session(desk["engine"]) as s, s.begin():  # let the later tests sign chen in again
        chen = s.exec(select(User).where(User.username == "chen")).one()
        chen.locked_until, chen.failed_logins = None, 0


def test_an_admin_cannot_sign_in_without_totp(desk, browser):
    base = desk["base"]
    page = login(browser, base, "boss", "the admin password")
    page.wait_for_selector("h1:has-text('设置动态验证码')")
    page.goto(f"{base}/desk/")  # the password alone does not open the desk
    assert "设置动态验证码" in page.inner_text("h1")
    secret = page.locator("input[name=secret]").input_value()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button:has-text('启用')")
    page.wait_for_selector("text=动态验证码已启用")

    page = login(browser, base, "boss", "the admin password")  # a new browser: the code is asked
    page.wait_for_selector("h1:has-text('输入动态验证码')")
    page.goto(f"{base}/desk/admin/audit")
    assert "输入动态验证码" in page.inner_text("h1")
    page.fill("input[name=code]", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("button[type=submit]")
    assert "验证码不对" in page.inner_text("main")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('预申请待办')")
    page.goto(f"{base}/desk/admin/audit?action=login")
    assert "boss" in page.inner_text("table.list")
