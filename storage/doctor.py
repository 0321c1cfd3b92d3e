"""`python bot.py doctor`: is this installation fit to run?  Each check prints one line, ok or what is
wrong and what to do; the exit code is 0 when all passed, 1 otherwise.

Checks: the database answers; the migrations are at head; the data key is valid and is the one the
database was made with; the Bot API (getMe) or the WeChat API answers, when configured; the disk
holding the database (or the current folder) has room; messages waiting in the outbox too long.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Callable

from settings import get_settings

MIN_FREE_MB = 200


def _database(results: list[tuple[bool, str]]) -> object | None:
    from sqlalchemy import text

    from storage.db import make_engine

    try:
        engine = make_engine(migrate=False)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - doctor reports, never raises
        results.append((False, f"database: cannot connect to {get_settings().database_url.split('@')[-1]}: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"))
        return None
    results.append((True, f"database: {engine.dialect.name} answers"))
    return engine


def _migrations(engine, results: list[tuple[bool, str]]) -> None:
    from storage.migrate import current_revision, head_revision

    try:
        current, head = current_revision(engine), head_revision()
    except Exception as exc:  # noqa: BLE001
        results.append((False, f"migrations: cannot read the revision: {type(exc).__name__}"))
        return
    if current == head:
        results.append((True, f"migrations: at head ({head})"))
    else:
        results.append((False, f"migrations: the database is at {current or 'nothing'}, the code at {head}: "
                               "run `python bot.py db upgrade`"))


def _key(engine, results: list[tuple[bool, str]]) -> None:
    from sqlmodel import Session

    from storage import crypto, keys

    problem = crypto.key_problem()
    if problem:
        results.append((False, f"data key: {problem}"))
        return
    configured = [crypto.fingerprint(k) for k in crypto.keys()]
    source = "TONGZHU_DATA_KEY" if get_settings().tongzhu_data_key else f"key file {crypto.key_file()}"
    if engine is None:
        results.append((True, f"data key: {configured[0]} from {source} (database not checked)"))
        return
    try:
        with Session(engine) as session:
            stored = keys.stored_fingerprint(session)
    except Exception:  # noqa: BLE001 - not migrated yet
        stored = None
    if stored is None or stored == configured[0]:
        results.append((True, f"data key: {configured[0]} from {source}"
                              + ("" if stored else " (the database has none recorded yet)")))
    elif stored in configured:
        results.append((False, f"data key: the database is still under {stored}: run `python bot.py keys rotate`"))
    else:
        results.append((False, f"data key: the database was made with key {stored}, {source} is {configured[0]}: "
                               "start with the right key"))
    if not get_settings().tongzhu_data_key and get_settings().production:
        results.append((False, "data key: TONGZHU_ENV=production needs TONGZHU_DATA_KEY"))


def _bot_api(results: list[tuple[bool, str]]) -> None:
    import httpx

    settings = get_settings()
    if not settings.telegram_bot_token:
        return
    base = (settings.telegram_api_base_url or "https://api.telegram.org/bot").rstrip("/")
    try:
        with httpx.Client(timeout=10, trust_env=not settings.tongzhu_no_proxy_env) as client:
            answer = client.get(f"{base}{settings.telegram_bot_token}/getMe").json()
    except Exception as exc:  # noqa: BLE001
        results.append((False, f"Telegram Bot API: not reachable at {base.split('/bot')[0]}: {type(exc).__name__}"))
        return
    if answer.get("ok"):
        results.append((True, f"Telegram Bot API: @{answer['result'].get('username', '?')} answers"))
    else:
        results.append((False, f"Telegram Bot API: {answer.get('description', 'refused the token')}"))


def _wechat(results: list[tuple[bool, str]]) -> None:
    settings = get_settings()
    app_id = getattr(settings, "wechat_app_id", None)
    if not app_id:
        return
    import httpx

    base = (getattr(settings, "wechat_api_base_url", None) or "https://api.weixin.qq.com").rstrip("/")
    try:
        with httpx.Client(timeout=10, trust_env=not settings.tongzhu_no_proxy_env) as client:
            status = client.get(f"{base}/cgi-bin/getcallbackip").status_code
    except Exception as exc:  # noqa: BLE001
        results.append((False, f"WeChat API: not reachable at {base}: {type(exc).__name__}"))
        return
    results.append((True, f"WeChat API: {base} answers (HTTP {status})"))


def _disk(results: list[tuple[bool, str]]) -> None:
    url = get_settings().database_url
    where = Path(url.split("///", 1)[1]).resolve().parent if url.startswith("sqlite:///") else Path.cwd()
    try:
        free = shutil.disk_usage(where).free // 2**20
    except OSError as exc:
        results.append((False, f"disk: cannot read {where}: {exc.strerror}"))
        return
    results.append((free >= MIN_FREE_MB, f"disk: {free} MB free in {where}"
                    + ("" if free >= MIN_FREE_MB else f" (less than {MIN_FREE_MB} MB: free some space)")))


def _outbox(engine, results: list[tuple[bool, str]]) -> None:
    from sqlalchemy import func, select

    from storage.outbox import T

    try:
        with engine.connect() as connection:
            cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
            stuck = connection.execute(select(func.count()).select_from(T).where(
                T.c.status == "pending", T.c.channel.in_(["tg", "wx"]), T.c.created_at < cutoff)).scalar_one()
    except Exception:  # noqa: BLE001
        return
    results.append((stuck == 0, "outbox: nothing waiting" if stuck == 0 else
                    f"outbox: {stuck} message(s) waiting more than 10 minutes: is the bot running and reachable?"))


def run_doctor(out: Callable[[str], None] = print) -> int:
    results: list[tuple[bool, str]] = []
    engine = _database(results)
    if engine is not None:
        _migrations(engine, results)
    _key(engine, results)
    if engine is not None:
        _outbox(engine, results)
    _bot_api(results)
    _wechat(results)
    _disk(results)
    for ok, line in results:
        out(f"{'ok  ' if ok else 'FAIL'} {line}")
    bad = sum(not ok for ok, _ in results)
    out("all checks passed" if not bad else f"{bad} problem(s)")
    return 0 if not bad else 1
