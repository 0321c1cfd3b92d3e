"""A fake WeChat on 127.0.0.1 for the 公众号 tests: the server that posts users' messages to the
account's URL, signed (and in 安全模式 encrypted) as WeChat does, and the API that receives the
account's calls (access token, customer-service messages).

    with FakeWeChat(token="t", app_id="wx1234", app_secret="s", aes_key=KEY) as wx:
        wx.url = "http://127.0.0.1:8080/wechat/"         # the server configuration's URL
        env WECHAT_API_BASE_URL = wx.api_base_url         # the app calls the fake API
        assert wx.verify_url().text == "echo"             # the URL check
        got = wx.send_text("o-grandma", "你好", aes=True)  # → the passive reply as the user sees it
        wx.tap("o-grandma", 1)                            # tap the second item of the last 菜单消息
        wx.wait_for("o-grandma", "第2步")                  # poll what the user has seen, with a deadline
        assert wx.problems == []

Signatures and encryption use wechatpy's own (WeChatSigner, WeChatCrypto), so the app is checked
against the library WeChat's documentation describes, not against itself.  Every request the app
makes and every reply it gives is validated (reply XML fields, text at most 2048 bytes, 菜单消息 with
1–10 items of id ≤ 64 bytes, a valid access token, a user who wrote within 48 hours); failures
collect in `problems`, and the API answers them with WeChat's error codes.

`clock_hours` moves this fake's clock, e.g. past the 48-hour window; `fail_next(errcode, msgtype)`
makes the next customer-service call of that type fail as WeChat would (e.g. 40200 for a menu).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

TEXT_BYTES = 2048
WINDOW_S = 48 * 3600


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclass
class Seen:
    """One message on the user's phone."""

    how: str  # "passive" or "custom"
    msgtype: str  # "text" or "msgmenu"
    text: str = ""
    menu: list[dict[str, str]] = field(default_factory=list)  # msgmenu items {id, content}


@dataclass
class Delivery:
    """What one POST to the account's URL gave."""

    status_code: int
    text: str | None  # the passive reply's content; None for "success" / empty
    xml: dict | None
    fields: dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def _answer(self, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(self.server.fake.serve(self.command, url.path, dict(parse_qsl(url.query)), body))

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: "FakeWeChat") -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class FakeWeChat:
    def __init__(self, *, token: str, app_id: str, app_secret: str, aes_key: str | None = None,
                 account: str = "gh_0123456789ab", url: str = "") -> None:
        self.token, self.app_id, self.app_secret, self.account = token, app_id, app_secret, account
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.url = url
        self.api_base_url = ""
        self.problems: list[str] = []
        self.calls: list[dict[str, Any]] = []  # every API call: {path, params, body}
        self.clock_hours = 0.0
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self._last_message: dict[str, float] = {}  # openid → when the user last wrote (fake clock)
        self._seen: dict[str, list[Seen]] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._posting: dict[str, dict[str, threading.Event]] = {}  # openid → the post being answered
        self._msg_ids = itertools.count(24_000_000_000_000_001)
        self._http = httpx.Client(timeout=5.0, trust_env=False)
        self._httpd: _Server | None = None

    # -- lifecycle
    def start(self) -> "FakeWeChat":
        self._httpd = _Server(self)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name="FakeWeChat", daemon=True).start()
        host, port = self._httpd.server_address[:2]
        self.api_base_url = f"http://{host}:{port}/cgi-bin/"
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self._http.close()

    def __enter__(self) -> "FakeWeChat":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def now(self) -> float:
        return time.time() + self.clock_hours * 3600

    # -- the API the account calls
    def serve(self, method: str, path: str, params: dict[str, str], body: bytes) -> dict:
        if path == "/cgi-bin/message/custom/send":
            self._after_passive(body)
        with self._lock:
            try:
                data = json.loads(body.decode("utf-8")) if body else None
            except (UnicodeDecodeError, ValueError):
                data = None
                self.problems.append(f"{path}: the body is not UTF-8 JSON: {body[:80]!r}")
            self.calls.append({"path": path, "params": params, "body": data})
            if path == "/cgi-bin/token":
                return self._token(method, params)
            if path == "/cgi-bin/message/custom/send":
                return self._custom_send(method, params, data)
            self.problems.append(f"an API this fake does not know: {method} {path}")
            return {"errcode": 40066, "errmsg": "invalid url"}

    def _token(self, method: str, params: dict[str, str]) -> dict:
        if method != "GET" or params.get("grant_type") != "client_credential":
            self.problems.append(f"token: {method} grant_type={params.get('grant_type')}")
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if params.get("appid") != self.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if params.get("secret") != self.app_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        token = secrets.token_urlsafe(24)
        self._tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _custom_send(self, method: str, params: dict[str, str], data: Any) -> dict:
        if method != "POST":
            self.problems.append(f"message/custom/send by {method}")
            return {"errcode": 43002, "errmsg": "require POST method"}
        if params.get("access_token") not in self._tokens:
            self.problems.append("message/custom/send without a valid access_token")
            return {"errcode": 40001, "errmsg": "invalid credential"}
        problem = _custom_problem(data)
        if problem:
            self.problems.append(f"message/custom/send: {problem}: {data!r:.300}")
            return {"errcode": 47001, "errmsg": f"data format error: {problem}"}
        openid, msgtype = data["touser"], data["msgtype"]
        last = self._last_message.get(openid)
        if last is None:
            self.problems.append(f"message/custom/send to {openid}, who never wrote")
            return {"errcode": 40003, "errmsg": "invalid openid"}
        for i, (code, kind) in enumerate(self._failures):
            if kind in (None, msgtype):
                del self._failures[i]
                return {"errcode": code, "errmsg": "failure injected by the test"}
        if self.now() - last > WINDOW_S:
            return {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
        if msgtype == "text":
            seen = Seen("custom", "text", text=data["text"]["content"])
        else:
            menu = data["msgmenu"]
            seen = Seen("custom", "msgmenu", text="\n".join([menu.get("head_content", "")]
                                                           + [i["content"] for i in menu["list"]]
                                                           + [menu.get("tail_content", "")]).strip(),
                        menu=[dict(i) for i in menu["list"]])
        self._seen.setdefault(openid, []).append(seen)
        return {"errcode": 0, "errmsg": "ok"}

    def _after_passive(self, body: bytes, grace: float = 0.2) -> None:
        """WeChat has a passive reply the moment the account's response ends, and the account sends
        its customer-service follow-ups after that.  This fake reads the response on another thread:
        a customer-service message arriving while a response for that user is being read waits
        until it is recorded, so the user's transcript keeps the account's order.  (A post still
        waiting for its answer is not waited for beyond `grace`: its answer may wait for this call.)"""
        try:
            openid = json.loads(body.decode("utf-8")).get("touser")
        except (UnicodeDecodeError, ValueError, AttributeError):
            return
        with self._lock:
            post = self._posting.get(openid)
        if post is not None and post["answering"].wait(grace):
            post["recorded"].wait(5.0)

    def fail_next(self, errcode: int, msgtype: str | None = None) -> None:
        with self._lock:
            self._failures.append((errcode, msgtype))

    # -- what users see
    def seen(self, openid: str) -> list[Seen]:
        with self._lock:
            return list(self._seen.get(openid, []))

    def texts(self, openid: str) -> str:
        return "\n".join(s.text for s in self.seen(openid))

    def custom_calls(self, openid: str | None = None) -> list[dict]:
        with self._lock:
            return [c["body"] for c in self.calls if c["path"] == "/cgi-bin/message/custom/send"
                    and isinstance(c["body"], dict) and (openid is None or c["body"].get("touser") == openid)]

    def last_menu(self, openid: str) -> list[dict[str, str]]:
        menus = [s.menu for s in self.seen(openid) if s.msgtype == "msgmenu"]
        return menus[-1] if menus else []

    def wait_for(self, openid: str, needle: str, *, after: int = 0, timeout: float = 15.0) -> list[Seen]:
        """Poll until a message containing `needle` reaches the user (counting from message `after`)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.seen(openid)[after:]
            if any(needle in s.text for s in seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"{openid} never saw {needle!r}; saw: {[s.text[:60] for s in seen]}")
            time.sleep(0.02)

    # -- the server that posts to the account
    def verify_url(self, echostr: str = "echo-1234", *, token: str | None = None) -> httpx.Response:
        timestamp, nonce = str(int(self.now())), secrets.token_hex(5)
        sig = signature(token or self.token, timestamp, nonce)
        return self._http.get(self.url, params={"signature": sig, "timestamp": timestamp, "nonce": nonce,
                                                "echostr": echostr})

    def send_text(self, openid: str, text: str, **kw: Any) -> Delivery:
        return self.post(openid, {"MsgType": "text", "Content": text}, **kw)

    def tap(self, openid: str, item: int | str, **kw: Any) -> Delivery:
        """Tap an item of the last 菜单消息 (by index, or by its content)."""
        menu = self.last_menu(openid)
        chosen = menu[item] if isinstance(item, int) else next(i for i in menu if i["content"] == item)
        return self.post(openid, {"MsgType": "text", "Content": chosen["content"], "bizmsgmenuid": chosen["id"]},
                         **kw)

    def send_voice(self, openid: str, recognition: str | None = None, **kw: Any) -> Delivery:
        fields = {"MsgType": "voice", "MediaId": "media-voice-1", "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self.post(openid, fields, **kw)

    def send_image(self, openid: str, **kw: Any) -> Delivery:
        return self.post(openid, {"MsgType": "image", "PicUrl": "http://127.0.0.1/p.jpg", "MediaId": "m1"}, **kw)

    def send_location(self, openid: str, **kw: Any) -> Delivery:
        return self.post(openid, {"MsgType": "location", "Location_X": "28.37", "Location_Y": "121.38",
                                  "Scale": "15", "Label": "浙江省台州市温岭市"}, **kw)

    def send_link(self, openid: str, **kw: Any) -> Delivery:
        return self.post(openid, {"MsgType": "link", "Title": "文章", "Description": "d",
                                  "Url": "http://127.0.0.1/a"}, **kw)

    def subscribe(self, openid: str, scene: str | None = None, **kw: Any) -> Delivery:
        fields = {"MsgType": "event", "Event": "subscribe"}
        if scene:
            fields["EventKey"] = f"qrscene_{scene}"
            fields["Ticket"] = "ticket-1"
        return self.post(openid, fields, **kw)

    def post(self, openid: str, fields: dict[str, Any], *, aes: bool = False, msg_id: int | None = None,
             token: str | None = None, via: httpx.Client | None = None) -> Delivery:
        """Post one message as WeChat does; `msg_id` repeats an earlier message (WeChat's retry);
        `via` posts on that client's connection (e.g. one pinned to a worker)."""
        fields = {"ToUserName": self.account, "FromUserName": openid, "CreateTime": str(int(self.now())),
                  **fields}
        if fields["MsgType"] != "event":
            fields["MsgId"] = str(msg_id or next(self._msg_ids))
        with self._lock:
            self._last_message[openid] = self.now()
        xml = xmltodict.unparse({"xml": fields}, full_document=False)
        timestamp, nonce = str(int(self.now())), secrets.token_hex(5)
        params = {"signature": signature(token or self.token, timestamp, nonce), "timestamp": timestamp,
                  "nonce": nonce, "openid": openid}
        if aes:
            assert self.crypto is not None, "FakeWeChat(aes_key=…) for 安全模式"
            wrapped = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
            params.update(encrypt_type="aes", msg_signature=wrapped["MsgSignature"])
            xml = xmltodict.unparse({"xml": {"ToUserName": self.account, "Encrypt": wrapped["Encrypt"]}},
                                    full_document=False)
        post = {"answering": threading.Event(), "recorded": threading.Event()}
        with self._lock:
            self._posting[openid] = post
        try:
            with (via or self._http).stream("POST", self.url, params=params, content=xml.encode("utf-8"),
                                            headers={"Content-Type": "text/xml"}) as response:
                post["answering"].set()  # the account has finished: its response is arriving
                response.read()
            return self._passive(openid, fields, response, aes)
        finally:
            post["answering"].set()
            post["recorded"].set()
            with self._lock:
                if self._posting.get(openid) is post:
                    del self._posting[openid]

    def _passive(self, openid: str, fields: dict, response: httpx.Response, aes: bool) -> Delivery:
        body = response.text
        if response.status_code != 200 or body.strip() in ("", "success"):
            return Delivery(response.status_code, None, None, fields)
        try:
            reply = xmltodict.parse(body)["xml"]
            if aes:
                if "Encrypt" not in reply:
                    self.problems.append(f"a plain reply to an encrypted message: {body[:200]}")
                else:
                    expected = signature(self.token, reply["TimeStamp"], reply["Nonce"], reply["Encrypt"])
                    if reply.get("MsgSignature") != expected:
                        self.problems.append("the encrypted reply's MsgSignature is wrong")
                    reply = xmltodict.parse(self.crypto.decrypt_message(body, reply["MsgSignature"],
                                                                        reply["TimeStamp"], reply["Nonce"]))["xml"]
        except Exception as exc:  # noqa: BLE001
            self.problems.append(f"an unreadable passive reply ({exc}): {body[:200]}")
            return Delivery(response.status_code, None, None, fields)
        problem = _passive_problem(reply, openid, self.account)
        if problem:
            self.problems.append(f"passive reply: {problem}: {reply!r:.300}")
        text = reply.get("Content")
        if text:
            with self._lock:
                self._seen.setdefault(openid, []).append(Seen("passive", "text", text=text))
        return Delivery(response.status_code, text, reply, fields)


def _passive_problem(reply: dict, openid: str, account: str) -> str | None:
    if reply.get("ToUserName") != openid:
        return f"ToUserName {reply.get('ToUserName')!r} is not the sender {openid!r}"
    if reply.get("FromUserName") != account:
        return f"FromUserName {reply.get('FromUserName')!r} is not the account"
    if not str(reply.get("CreateTime", "")).isdigit():
        return "CreateTime is not a number"
    if reply.get("MsgType") != "text":
        return f"MsgType {reply.get('MsgType')!r} (only text replies are expected)"
    content = reply.get("Content") or ""
    if not content.strip():
        return "an empty text"
    if len(content.encode("utf-8")) > TEXT_BYTES:
        return f"text of {len(content.encode('utf-8'))} bytes (at most {TEXT_BYTES})"
    return None


def _custom_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if not isinstance(data.get("touser"), str) or not data["touser"]:
        return "no touser"
    msgtype = data.get("msgtype")
    if msgtype == "text":
        content = (data.get("text") or {}).get("content")
        if not isinstance(content, str) or not content.strip():
            return "an empty text"
        if len(content.encode("utf-8")) > TEXT_BYTES:
            return f"text of {len(content.encode('utf-8'))} bytes"
        return None
    if msgtype == "msgmenu":
        menu = data.get("msgmenu") or {}
        items = menu.get("list")
        if not isinstance(items, list) or not 1 <= len(items) <= 10:
            return "a msgmenu needs 1–10 items"
        for item in items:
            if not isinstance(item, dict) or set(item) != {"id", "content"}:
                return f"a msgmenu item is {{id, content}}: {item!r}"
            if not item["id"] or len(str(item["id"]).encode()) > 64 or not str(item["content"]).strip():
                return f"a msgmenu item's id (1–64 bytes) or content is wrong: {item!r}"
        for key in ("head_content", "tail_content"):
            if not isinstance(menu.get(key, ""), str) or len(menu.get(key, "").encode()) > 1024:
                return f"{key} must be text of at most 1024 bytes"
        return None
    return f"msgtype {msgtype!r} (this fake knows text and msgmenu)"
