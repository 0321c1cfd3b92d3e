"""The web app over HTTP (Starlette's test client on the real app and a real SQLite database):
pages, CSRF, the body cap, rate limits and signed links. The browser tests are tests/test_web_browser.py."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from storage.db import make_engine
from web.app import create_app
from web.security import BodyLimit, RateLimiter, sign, unsign


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.delenv("TONGZHU_ENV", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    with TestClient(create_app(engine=engine), base_url="http://127.0.0.1:8080") as c:
        yield c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def buttons_of(html: str) -> list[str]:
    return re.findall(r'<button type="submit" name="action" value="[^"|]*\|([^"]*)"', html)


def test_first_screen_welcomes_and_offers_real_buttons(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "您好，我是童助" in page.text
    assert buttons_of(page.text)[0] == "我是孩子的家人"
    cookie = page.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert client.get("/static/htmx.min.js").status_code == 200


def test_a_tap_and_typed_text_go_through_the_engine(client):
    token = csrf_of(client.get("/").text)
    tapped = client.post("/tap", data={"csrf": token, "action": "role:self|我是孩子的家人"})
    assert tapped.status_code == 200
    assert "户口在哪个地方" in tapped.text and "我是孩子的家人" in tapped.text
    typed = client.post("/say", data={"csrf": token, "text": "温岭"}, headers={"HX-Request": "true"})
    assert typed.status_code == 200
    assert typed.text.lstrip().startswith('<section class="turn"')  # htmx gets the new turn only
    assert "<html" not in typed.text
    # a reload later goes on where the family is
    again = client.get("/")
    assert "户口在哪个地方" not in again.text


def test_danger_words_show_110_first_as_a_tel_link(client):
    token = csrf_of(client.get("/").text)
    page = client.post("/say", data={"csrf": token, "text": "孩子被打了，身上都是伤"})
    links = re.findall(r'href="tel:(\d+)"', page.text.split('<main id="log">')[1].split("</main>")[0])
    assert links and links[0] == "110"


def test_a_post_without_the_csrf_token_is_refused_and_keeps_the_typed_text(client):
    client.get("/")
    page = client.post("/say", data={"csrf": "forged", "text": "孩子今年7岁"})
    assert page.status_code == 403
    assert "请再点一次" in page.text
    assert "孩子今年7岁</textarea>" in page.text
    assert buttons_of(page.text)  # and the family still has the buttons of where they are
    # another site's form is refused even with the right token
    token = csrf_of(page.text)
    other = client.post("/say", data={"csrf": token, "text": "温岭"}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403


def test_a_body_over_the_cap_is_refused_before_the_handler(client):
    token = csrf_of(client.get("/").text)
    page = client.post("/say", data={"csrf": token, "text": "长" * 20_000})
    assert page.status_code == 413
    assert "太多了" in page.text


def test_too_long_text_is_kept_and_explained(client):
    token = csrf_of(client.get("/").text)
    page = client.post("/say", data={"csrf": token, "text": "我" * 600})
    assert page.status_code == 422
    assert "分几次发" in page.text and ("我" * 600) in page.text


def test_rate_limit_per_session(client):
    token = csrf_of(client.get("/").text)
    codes = [client.post("/tap", data={"csrf": token, "action": "resume|"}).status_code for _ in range(24)]
    assert codes[:20] == [200] * 20
    assert 429 in codes
    limited = client.post("/say", data={"csrf": token, "text": "温岭"})
    assert limited.status_code == 429 and "温岭</textarea>" in limited.text


def test_rate_limiter_refills():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    assert limiter.allow("b")  # keys are separate
    now[0] += 1.0
    assert limiter.allow("a") and not limiter.allow("a")


def test_signed_values_refuse_forgery_and_other_purposes():
    token = sign("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", purpose="wx-openid")
    assert unsign(token, purpose="wx-openid") == "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    assert unsign(token, purpose="other") is None
    assert unsign(token[:-2] + "xx", purpose="wx-openid") is None
    assert unsign("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", purpose="wx-openid") is None


def test_openid_link_continues_the_wechat_conversation_and_a_bare_openid_does_not(client, tmp_path):
    from conversation.model import Input
    from conversation.session import handle

    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    handle(engine=engine, services=None, user_key="wx:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", inp=Input.pressed("role:self"))
    bare = client.get("/", params={"openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"})
    assert "链接已经过期" in bare.text and "户口在哪个地方" not in bare.text
    from web.links import openid_link

    signed = client.get(openid_link("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", base_url=""))
    assert "链接已经过期" not in signed.text and "户口在哪个地方" in signed.text


def test_body_limit_counts_a_streamed_body():
    import asyncio

    seen = {}

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        seen["reached"] = True

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3

    async def run():
        sent = []
        queue = list(chunks)

        async def receive():
            return queue.pop(0)

        async def send(message):
            sent.append(message)

        await BodyLimit(app, max_bytes=1000)({"type": "http", "method": "POST", "headers": []}, receive, send)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 413 and "reached" not in seen


def test_a_wrong_resume_code_is_explained_and_kept(client):
    page = client.get("/")
    token = csrf_of(page.text)
    code = re.search(r'<b id="code">([^<]+)</b>', page.text).group(1)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", code)
    wrong = client.post("/resume", data={"csrf": token, "code": "zzzz-zzzz"})
    assert "没有找到这个接续码" in wrong.text and 'value="zzzz-zzzz"' in wrong.text
    assert buttons_of(wrong.text)  # still where she was
    assert re.search(r'<b id="code">([^<]+)</b>', wrong.text).group(1) == code


def test_resume_codes_cannot_be_guessed_quickly(client):
    token = csrf_of(client.get("/").text)
    codes = [client.post("/resume", data={"csrf": token, "code": f"ABCD-EF{i:02d}"}).status_code for i in range(14)]
    assert 429 in codes and codes[0] == 200


def test_a_resume_code_links_another_channel(client, tmp_path):
    from sqlmodel import Session

    from conversation.model import Input
    from conversation.session import handle
    from web import resume

    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    handle(engine=engine, services=None, user_key="wx:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", inp=Input.pressed("role:self"))
    with Session(engine) as session, session.begin():
        code = resume.code_for(session, user_key="wx:o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
        assert resume.code_for(session, user_key="wx:o6_bmjrPTlm6_2sgVt7hMZOPfL2M") == code
    token = csrf_of(client.get("/").text)
    page = client.post("/resume", data={"csrf": token, "code": " " + code[:4].lower() + " " + code[4:]})
    assert "接着上次的地方" in page.text and "户口在哪个地方" in page.text


def test_behind_a_proxy_the_public_address_is_the_same_origin(client, monkeypatch):
    token = csrf_of(client.get("/").text)
    refused = client.post("/say", data={"csrf": token, "text": "温岭"}, headers={"Origin": "https://tongzhu.example.org"})
    assert refused.status_code == 403
    monkeypatch.setenv("TONGZHU_WEB_PUBLIC_URL", "https://tongzhu.example.org")
    allowed = client.post("/say", data={"csrf": token, "text": "温岭"}, headers={"Origin": "https://tongzhu.example.org"})
    assert allowed.status_code == 200
