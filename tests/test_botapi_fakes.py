"""The offline Telegram fakes: spec validation, OfflineRequest in-process, FakeBotApi over HTTP."""

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest
from telegram.ext import (ApplicationBuilder, CallbackQueryHandler, CommandHandler, MessageHandler,
                          filters)
from telegram.request import HTTPXRequest

from botapi_fakes import spec
from botapi_fakes.offline import OfflineRequest, UploadedFile
from botapi_fakes.server import FakeBotApi
from botapi_fakes.updates import callback_update, text_update

needs_spec = pytest.mark.skipif(spec.load_spec() is None, reason=spec.SPEC_MISSING)
USER = 4242
KEYBOARD = {"inline_keyboard": [[{"text": "是", "callback_data": "yes"},
                                 {"text": "否", "callback_data": "no"}]]}


# -- (a) spec.validate_call -------------------------------------------------------------------
@needs_spec
def test_unknown_method_and_missing_field():
    assert spec.validate_call("sendMesage", {"chat_id": 1, "text": "x"}) == ["unknown Bot API method 'sendMesage'"]
    assert "missing required field 'chat_id'" in spec.validate_call("sendMessage", {"text": "x"})
    assert "unknown field 'colour'" in spec.validate_call("sendMessage", {"chat_id": 1, "text": "x", "colour": 1})


def test_limits():
    long_data = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
    assert any("65 bytes" in p for p in spec.validate_call("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": long_data}))
    chinese = {"inline_keyboard": [[{"text": "a", "callback_data": "低保" * 11}]]}  # 22 characters, 66 bytes
    assert any("66 bytes" in p for p in spec.validate_call("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": chinese}))
    assert any("4097 characters" in p for p in spec.validate_call("sendMessage", {"chat_id": 1, "text": "字" * 4097}))
    assert any("0 characters" in p for p in spec.validate_call("editMessageText", {"chat_id": 1, "message_id": 2, "text": ""}))
    assert any("1025" in p for p in spec.validate_call("sendDocument", {"chat_id": 1, "document": "id", "caption": "c" * 1025}))
    assert any("201" in p for p in spec.validate_call("answerCallbackQuery", {"callback_query_id": "1", "text": "t" * 201}))
    wide = {"inline_keyboard": [[{"text": str(i), "callback_data": str(i)} for i in range(9)]]}
    assert any("at most 8" in p for p in spec.validate_call("sendMessage", {"chat_id": 1, "text": "x", "reply_markup": wide}))
    commands = [{"command": "Start", "description": "开始"}, {"command": "help", "description": ""}]
    assert len(spec.validate_call("setMyCommands", {"commands": json.dumps(commands)})) == 2


def test_html():
    def html_problems(text):
        return spec.validate_call("sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"})

    assert any("<div>" in p for p in html_problems("<div>你好</div>"))
    assert any("unescaped '<'" in p for p in html_problems("3 < 5"))
    assert any("unescaped '&'" in p for p in html_problems("A & B"))
    assert any("unclosed <b>" in p for p in html_problems("<b>粗"))
    assert any("does not match" in p for p in html_problems("<b><i>x</b></i>"))
    assert any("tg-spoiler" in p for p in html_problems("<span>x</span>"))
    good = ('<b>低保</b> &lt;3 &amp; <a href="https://example.org">链接</a> <span class="tg-spoiler">s</span>'
            '<pre><code class="language-python">x</code></pre><blockquote expandable>q</blockquote>')
    assert html_problems(good) == []
    # the limit counts the text after entity parsing: tags do not count
    assert html_problems("<b>" + "x" * 4096 + "</b>") == []


def test_good_message_as_objects_and_as_form_strings():
    params = {"chat_id": 1, "text": "<b>请选择</b>", "parse_mode": "HTML", "reply_markup": KEYBOARD,
              "disable_notification": True}
    assert spec.validate_call("sendMessage", params) == []
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    assert spec.validate_call("sendMessage", form) == []


@needs_spec
def test_form_values_decode_by_spec_type():
    form = {"chat_id": "1", "text": "123", "disable_notification": "true", "reply_markup": json.dumps(KEYBOARD)}
    assert spec.coerce_params("sendMessage", form) == {
        "chat_id": 1, "text": "123", "disable_notification": True, "reply_markup": KEYBOARD}


@needs_spec
def test_limits_agree_with_the_spec():
    s = spec.load_spec()

    def described(container, name, field):
        return next(f["description"] for f in s[container][name]["fields"] if f["name"] == field)

    assert "1-4096 characters" in described("methods", "sendMessage", "text")
    assert "1-4096 characters" in described("methods", "editMessageText", "text")
    assert "0-1024 characters" in described("methods", "sendDocument", "caption")
    assert "0-200 characters" in described("methods", "answerCallbackQuery", "text")
    assert "1-64 bytes" in described("types", "InlineKeyboardButton", "callback_data")
    assert "1-32 characters" in described("types", "BotCommand", "command")
    assert "lowercase English letters, digits and underscores" in described("types", "BotCommand", "command")
    assert "1-256 characters" in described("types", "BotCommand", "description")


# -- (b) OfflineRequest with a real Application --------------------------------------------------
async def echo(update: Update, context) -> None:
    await update.message.reply_text(f"你说：{update.message.text}")


async def start(update: Update, context) -> None:
    await update.message.reply_text("<b>欢迎</b>", parse_mode="HTML",
                                    reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("是", callback_data="yes")]]))


async def pressed(update: Update, context) -> None:
    query = update.callback_query
    await query.answer("收到")
    await query.edit_message_text(f"你选了 {query.data}")


def build_app(**requests):
    app = ApplicationBuilder().token("123:ABC")
    for name, value in requests.items():
        app = getattr(app, name)(value)
    app = app.build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


def test_offline_request_runs_a_real_application():
    request = OfflineRequest()
    app = build_app(request=request, get_updates_request=request)

    async def scenario():
        async with app:
            assert app.bot.username == "tongzhu_test_bot"
            await app.process_update(Update.de_json(text_update(1, USER, "你好"), app.bot))
            await app.process_update(Update.de_json(text_update(2, USER, "/start"), app.bot))
            sent = request.calls("sendMessage")[-1]
            keyboard_message_id = request.last_message(USER)["message_id"]
            await app.process_update(Update.de_json(
                callback_update(3, USER, "yes", message_id=keyboard_message_id), app.bot))
            message = await app.bot.send_document(USER, InputFile(b"%PDF-1.4", filename="材料清单.pdf"), caption="清单")
            assert message.document.file_name == "材料清单.pdf" and message.document.file_size == 8
            with pytest.raises(BadRequest, match="not modified"):
                await app.bot.edit_message_text("你选了 yes", chat_id=USER, message_id=keyboard_message_id)
        return sent

    sent = asyncio.run(scenario())
    assert request.sent_texts(USER) == ["你说：你好", "<b>欢迎</b>", "你选了 yes", "你选了 yes"]
    assert request.last_message(USER)["caption"] == "清单"
    assert sent.params["reply_markup"] == {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]}
    assert request.last_markup(USER) == sent.params["reply_markup"]
    assert request.calls("answerCallbackQuery")[0].params["text"] == "收到"
    doc = request.calls("sendDocument")[0].params["document"]
    assert doc == UploadedFile("材料清单.pdf", b"%PDF-1.4", "application/pdf")
    assert request.problems == []
    request.clear()
    assert request.calls() == [] and request.problems == []


# -- (c) FakeBotApi over HTTP ---------------------------------------------------------------------
def http_request():
    return HTTPXRequest(httpx_kwargs={"trust_env": False})


def test_fake_server_with_polling_application():
    with FakeBotApi() as api:
        app = build_app(base_url=api.base_url, request=http_request(), get_updates_request=http_request())

        async def scenario():
            await app.initialize()
            await app.start()
            await app.updater.start_polling(timeout=5)
            try:
                api.push_text(USER, "我想问低保")
                await asyncio.to_thread(api.wait_for_text, USER, "你说：我想问低保", 10)
                mark = len(api.calls())
                api.push_text(USER, "/start")
                await asyncio.to_thread(api.wait_for, lambda c: c.method == "sendMessage" and "reply_markup" in c.params, 10, mark)
                api.push_callback(USER, "yes")
                await asyncio.to_thread(api.wait_for_text, USER, "你选了 yes", 10)
                message = await app.bot.send_document(USER, InputFile(b"\x00\x01data", filename="报告.pdf"))
                assert message.document.file_name == "报告.pdf"
            finally:
                await app.updater.stop()
                await app.stop()
                await app.shutdown()

        asyncio.run(scenario())
        assert api.calls("getMe") and api.calls("deleteWebhook")
        assert api.pending_updates() == []  # the updater confirmed everything on stop
        assert api.calls("answerCallbackQuery")[0].params["callback_query_id"] == "cq3"
        assert api.calls("sendDocument")[0].params["document"] == UploadedFile("报告.pdf", b"\x00\x01data", "application/pdf")
        assert api.problems == []


def test_fake_server_long_polling_offset_and_errors():
    with FakeBotApi(poll_cap=5) as api, httpx.Client(trust_env=False, timeout=10) as client, \
            ThreadPoolExecutor(1) as pool:
        url = f"{api.base_url}123:ABC"

        def get_updates(**params):
            return client.post(f"{url}/getUpdates", data={k: str(v) for k, v in params.items()}).json()

        waiting = pool.submit(get_updates, timeout=5)
        api.wait_for(lambda c: c.method == "getUpdates", timeout=5)  # the long poll has arrived
        update_id = api.push_text(USER, "在吗")
        answer = waiting.result(timeout=5)
        assert [u["update_id"] for u in answer["result"]] == [update_id]
        # not confirmed yet: served again; confirmed by a higher offset: gone
        assert get_updates()["result"][0]["message"]["text"] == "在吗"
        assert get_updates(offset=update_id + 1, timeout=0)["result"] == []
        assert api.pending_updates() == []

        bad = client.get(f"{url}/sendMessage", params={"chat_id": USER, "text": "x" * 5000}).json()
        assert bad["ok"] is True  # the fake still answers; the problem is recorded
        assert any("5000 characters" in p for p in api.problems)
        unknown = client.post(f"{url}/launchRocket", json={"chat_id": USER})
        assert unknown.status_code == 400 and unknown.json()["ok"] is False
        assert client.post(f"{url}/setWebhook", json={"url": "https://example.org/hook"}).json()["ok"]
        assert client.post(f"{url}/getUpdates").status_code == 409
        api.clear()
        assert api.problems == []


def test_deliver_webhook_sends_secret_header():
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with FakeBotApi() as api:
            status = api.deliver_webhook(f"http://127.0.0.1:{hook.server_address[1]}/hook",
                                         text_update(7, USER, "你好"), secret_token="s3cret")
        assert status == 200
        [(secret, update)] = received
        assert secret == "s3cret" and update["update_id"] == 7 and update["message"]["text"] == "你好"
    finally:
        hook.shutdown()
        hook.server_close()
        thread.join(timeout=5)
