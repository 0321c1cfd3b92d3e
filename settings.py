"""All configuration read from the environment, in one place (pydantic-settings).

Every setting is documented here and in the README's table. Code calls `get_settings()`; it follows
the environment (tests change it): the object is built again whenever one of the settings' variables
changed, else the one built before is returned (building one costs ~5 ms; looking at the variables
~5 µs, so it may be called on the hot path).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # --- where things run
    tongzhu_env: str = Field("", description="`production` makes missing secrets fatal")
    database_url: str = Field("sqlite:///tongzhu.db", description="SQLite file or postgresql://…")
    tongzhu_shared: Path | None = Field(None, description="the shared folder (policy texts, specs)")
    tongzhu_cache_dir: Path | None = Field(None, description="where the free-text index cache is kept "
                                           "(default $XDG_CACHE_HOME/tongzhu or ~/.cache/tongzhu)")
    host: str = Field("127.0.0.1", description="address the web app / webhook listens on")
    port: int = Field(8080, description="port the web app / webhook listens on")

    # --- data protection
    tongzhu_data_key: str | None = Field(None, description="Fernet key(s) for 身份证 and phone numbers")
    tongzhu_key_file: Path | None = Field(None, description="outside production: where the per-install key lives")
    tongzhu_session_days: int = Field(30, description="unfinished conversations are deleted after this many days")

    # --- Telegram
    telegram_bot_token: str | None = None
    telegram_api_base_url: str | None = Field(None, description="another Bot API server (a fake in tests)")
    telegram_webhook_secret: str | None = None
    telegram_webhook_url: str | None = None
    tongzhu_no_proxy_env: bool = Field(False, description="ignore HTTP(S)_PROXY for the Bot API client")
    telegram_read_timeout: float = Field(5.0, description="seconds to wait for the Bot API's answer to a send; "
                                         "a later answer is an unknown outcome, tried once more")

    # --- the web app (`python bot.py web`): family chat at /, WeChat at /wechat, desk at /desk
    tongzhu_web_secret: str | None = Field(None, description="signs the web chat's session cookie and links "
                                           "(required in production; at least 16 random characters)")
    tongzhu_web_public_url: str | None = Field(None, description="the web chat's public address (https://…), "
                                               "for links other channels hand out (web/links.py)")
    tongzhu_web_max_body: int = Field(16_384, description="largest request body the web app accepts, in bytes")
    tongzhu_web_rate_session: float = Field(30, description="web chat posts a minute per session (bursts of 20)")
    tongzhu_web_rate_ip: float = Field(300, description="web requests a minute per IP address (many phones share one)")

    # --- WeChat Official Account (公众号) at /wechat/
    wechat_token: str | None = Field(None, description="the Token set in the 公众号's server configuration")
    wechat_app_id: str | None = Field(None, description="the 公众号's AppID")
    wechat_app_secret: str | None = Field(None, description="AppSecret: customer-service messages (follow-ups, menus, notices)")
    wechat_aes_key: str | None = Field(None, description="EncodingAESKey (43 characters): 安全模式 messages")
    wechat_api_base_url: str = Field("https://api.weixin.qq.com/cgi-bin/",
                                     description="the WeChat API (a fake in tests)")
    wechat_passive_deadline: float = Field(4.5, description="seconds to wait for a passive reply; "
                                           "later answers go as customer-service messages")

    # --- the office desk at /desk (desk/)
    desk_idle_minutes: int = Field(30, description="a desk session ends after this many idle minutes")
    desk_max_failures: int = Field(5, description="wrong passwords (or TOTP codes) in a row that lock an account")
    desk_lock_minutes: int = Field(15, description="how long a locked desk account stays locked")
    desk_login_per_minute: int = Field(10, description="login attempts per minute from one address")
    desk_cookie_secure: bool = Field(True, description="desk session cookie only over HTTPS (localhost is exempt in browsers)")
    desk_stale_days: int = Field(15, description="working days after filing without a decision: a case is overdue")

    @property
    def production(self) -> bool:
        return self.tongzhu_env.lower() in ("production", "prod")

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url


_NAMES = tuple(n for field in Settings.model_fields for n in (field.upper(), field))
_built: tuple[tuple[str | None, ...], Settings] | None = None


def get_settings() -> Settings:
    """The settings as the environment gives them now (the variables are matched in UPPER or lower
    case; a mixed-case spelling such as Database_Url is not watched for changes)."""
    global _built
    key = tuple(map(os.environ.get, _NAMES))
    built = _built
    if built is None or built[0] != key:
        built = _built = (key, Settings())
    return built[1]
