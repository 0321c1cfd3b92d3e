"""Links into the family web chat that other channels hand out.

A 公众号 message or menu can open the web chat as the same family (snsapi_base style): the link
carries the family's openid SIGNED with the web secret, never a bare openid (anyone could type one):

    from web.links import openid_link
    openid_link("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")   # → https://…/?openid=<signed token>

The chat (web/chat.py) accepts the token for OPENID_LINK_DAYS days and then goes on with the
conversation of user key `wx:<openid>`; a bare, altered or expired token is refused with a kind word.
"""

from __future__ import annotations

from urllib.parse import urlencode

from settings import get_settings
from web.security import sign

OPENID_PURPOSE = "wx-openid"
OPENID_LINK_DAYS = 7


def openid_token(openid: str) -> str:
    return sign(openid, purpose=OPENID_PURPOSE)


def openid_link(openid: str, *, base_url: str | None = None) -> str:
    base = (base_url if base_url is not None else get_settings().tongzhu_web_public_url or "").rstrip("/")
    return f"{base}/?{urlencode({'openid': openid_token(openid)})}"


def referral_link(code: str, *, base_url: str | None = None) -> str:
    """A volunteer's link for families: the web chat's counterpart of t.me/<bot>?start=CODE."""
    base = (base_url if base_url is not None else get_settings().tongzhu_web_public_url or "").rstrip("/")
    return f"{base}/?{urlencode({'ref': code})}"
