"""The WeChat API for customer-service messages (客服消息), through wechatpy's WeChatClient.

`api_client(settings)` gives a client whose API base URL is WECHAT_API_BASE_URL (a fake in tests),
or None when WECHAT_APP_ID / WECHAT_APP_SECRET are not set: then only passive replies are possible.
wechatpy fetches the access token itself (and again when WeChat says it expired); its
`fetch_access_token` names api.weixin.qq.com outright, so it is pointed at the base URL here.

`send(client, openid, composed)` delivers a composed answer: the text parts, then the buttons as
one 菜单消息 (msgmenu), or as numbered text when the menu is refused.  It returns False when WeChat
refuses because the user's 48-hour window is closed (errcode 45015) or the account may not send
(48001): the caller keeps the message for the user's next visit.  Network faults raise.
"""

from __future__ import annotations

import logging

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from wechat.compose import Composed

log = logging.getLogger("tongzhu.wechat")

OUT_OF_WINDOW = 45015  # response out of time limit or subscription is canceled
NO_PERMISSION = 48001  # api unauthorized
NOT_ALLOWED = {OUT_OF_WINDOW, NO_PERMISSION, 43004}  # 43004: the user unsubscribed


class Client(WeChatClient):
    def __init__(self, appid: str, secret: str, *, base_url: str, timeout: float = 10):
        super().__init__(appid, secret, timeout=timeout)
        self.API_BASE_URL = base_url.rstrip("/") + "/"

    def fetch_access_token(self):
        return self._fetch_access_token(url=self.API_BASE_URL + "token",
                                        params={"grant_type": "client_credential", "appid": self.appid,
                                                "secret": self.secret})


def api_client(settings) -> Client | None:
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        return None
    return Client(settings.wechat_app_id, settings.wechat_app_secret, base_url=settings.wechat_api_base_url)


def send(client: Client, openid: str, composed: Composed, skip_parts: int = 0) -> bool:
    """Send `composed` (minus its first `skip_parts` text parts, already given passively).
    → False when WeChat does not allow messages to this user now."""
    try:
        if not composed.menu_fits:
            for part in composed.with_choices()[skip_parts:]:
                client.message.send_text(openid, part)
            return True
        for part in composed.parts[skip_parts:]:
            client.message.send_text(openid, part)
        try:
            client.message.send_msg_menu(openid, composed.msgmenu())
        except WeChatClientException as exc:
            if exc.errcode in NOT_ALLOWED:
                raise
            log.warning("menu refused (%s %s): the choices go as numbered text", exc.errcode, exc.errmsg)
            client.message.send_text(openid, composed.choices_text())
        return True
    except WeChatClientException as exc:
        if exc.errcode in NOT_ALLOWED:
            log.info("WeChat does not allow a message to %s now (%s): kept for the next visit", openid, exc.errcode)
            return False
        raise
