"""The 公众号 against the real `python bot.py web --workers 2` process on PostgreSQL, driven by the fake
WeChat (botapi_fakes/wechat.py): WeChat's retry of a message, reaching the other worker while the
first is being handled, is answered once; 安全模式 end to end; a danger message."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from botapi_fakes.wechat import FakeWeChat
from e2e.fixtures import api  # noqa: F401 (pytest fixture)
from e2e.pg import pg_schema  # noqa: F401 (pytest fixture)
from e2e.process import WebhookBot
from test_wechat import AES_KEY, APP_ID, SECRET, TOKEN


class WebBot(WebhookBot):
    """`python bot.py web --workers N --port P` (the readiness probe and pinned clients of WebhookBot)."""

    def __init__(self, api, db_url, *, log, workers=2, env=None):  # noqa: ANN001
        super().__init__(api, db_url, log=log, workers=workers, env=env)
        self.args = ["web", "--workers", str(workers), "--port", str(self.port)]


@pytest.fixture
def wx() -> Iterator[FakeWeChat]:
    with FakeWeChat(token=TOKEN, app_id=APP_ID, app_secret=SECRET, aes_key=AES_KEY) as fake:
        yield fake


def test_two_workers_answer_a_message_and_its_concurrent_retry_once(api, wx, pg_schema, tmp_path):  # noqa: F811
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": SECRET, "WECHAT_AES_KEY": AES_KEY,
           "WECHAT_API_BASE_URL": wx.api_base_url}
    bot = WebBot(api, pg_schema.url, log=tmp_path / "web.log", env=env).start()
    try:
        bot.wait_ready()
        wx.url = bot.base + "/wechat/"
        first, second = bot.pinned_clients().values()
        assert wx.verify_url("echo-77").text == "echo-77"
        assert "您好，我是童助" in wx.subscribe("o-pg", aes=True, via=first).text
        assert "哪里" in wx.send_text("o-pg", "1", aes=True, via=second).text
        # WeChat retries a message it got no answer to; the retry reaches the other worker at once
        msg_id = 9_100_000_000_000_000_001
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda client: wx.send_text("o-pg", "温岭", msg_id=msg_id, aes=True, via=client),
                                (first, second)))
        answered = [g.text for g in got if g.text]
        assert len(answered) == 1, got
        assert "孩子现在安全吗" in answered[0]
        wx.wait_for("o-pg", "不想说")  # the question's menu, by customer-service message
        danger = wx.send_text("o-pg", "孩子他爸喝了酒就打孩子", via=second)
        assert danger.text.index("110") < 80, danger.text
        assert wx.problems == [], wx.problems
        assert bot.stop() == 0
    finally:
        bot.kill()
        print(bot.log()[-4000:])
