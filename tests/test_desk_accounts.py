"""Desk accounts from the command line, as the person setting up an office runs them: real
subprocesses on a real database file; then the password, lock and TOTP rules on the same rows."""

import os
import subprocess
import sys

import pyotp
from sqlmodel import Session

from conftest import REPO
from desk import accounts
from storage.db import make_engine
from storage.models import Role

BOT = [sys.executable, str(REPO / "bot.py")]


def run(db, *args, stdin=None):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([*BOT, *args], capture_output=True, text=True, input=stdin, cwd=REPO, env=env,
                          timeout=120)


def test_accounts_are_added_listed_reset_and_removed(tmp_path):
    db = tmp_path / "desk.db"
    done = run(db, "staff", "add", "boss", "--role", "admin", "--password-stdin", stdin="a long admin secret\n")
    assert done.returncode == 0, done.stderr
    assert "TOTP" in done.stdout
    done = run(db, "staff", "add", "wang", "--role", "staff", "--region", "温岭", "--telegram-id", "777",
               "--password-stdin", stdin="wang's password 1\n")
    assert done.returncode == 0, done.stderr
    assert "浙江省台州市温岭市" in done.stdout and "777" in done.stdout
    assert run(db, "staff", "add", "555", "--role", "staff", "--region", "綦江").returncode == 0  # as before

    short = run(db, "staff", "add", "li", "--role", "staff", "--region", "温岭", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "10" in short.stderr
    nowhere = run(db, "staff", "add", "zhao", "--role", "staff", "--password-stdin", stdin="a long password\n")
    assert nowhere.returncode == 2 and "--region" in nowhere.stderr

    listing = run(db, "staff", "list").stdout
    assert "boss" in listing and "wang" in listing and "tg:777" in listing and "tg:555" in listing
    assert "li " not in listing

    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as s, s.begin():
        wang = accounts.get_account(s, username="wang")
        assert wang.user_key == "tg:777" and wang.region == "浙江省台州市温岭市"
        assert wang.password_hash.startswith("$argon2id$") and "wang's password" not in wang.password_hash
        assert accounts.check_login(s, username="wang", password="wang's password 1").ok
        assert not accounts.check_login(s, username="wang", password="wrong").ok

    assert run(db, "staff", "reset-password", "wang", "--password-stdin", stdin="a new password 2\n").returncode == 0
    with Session(engine) as s, s.begin():
        assert not accounts.check_login(s, username="wang", password="wang's password 1").ok
        assert accounts.check_login(s, username="wang", password="a new password 2").ok

    assert run(db, "staff", "remove", "wang").returncode == 0
    assert "wang" not in run(db, "staff", "list").stdout
    with Session(engine) as s, s.begin():
        assert not accounts.check_login(s, username="wang", password="a new password 2").ok
    missing = run(db, "staff", "remove", "nobody")
    assert missing.returncode == 2 and "nobody" in missing.stderr
    engine.dispose()


def test_repeated_failures_lock_even_the_right_password_out(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with Session(engine) as s, s.begin():
        accounts.add_account(s, username="wang", password="the right password", role=Role.staff, region="浙江省台州市温岭市")
    for _ in range(5):
        with Session(engine) as s, s.begin():
            assert accounts.check_login(s, username="wang", password="guess").ok is False
    with Session(engine) as s, s.begin():
        result = accounts.check_login(s, username="wang", password="the right password")
        assert (result.ok, result.why) == (False, "locked")
    engine.dispose()


def test_totp_codes_of_the_enrolled_secret_only(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'totp.db'}")
    secret = accounts.new_totp_secret()
    with Session(engine) as s, s.begin():
        boss = accounts.add_account(s, username="boss", password="the admin password", role=Role.admin, region=None)
        assert accounts.needs_totp(boss)
        svg = accounts.qr_svg(accounts.provisioning_uri(boss, secret))
        assert svg.lstrip().startswith("<") and "<svg" in svg
        accounts.enable_totp(s, user=boss, secret=secret)
    with Session(engine) as s, s.begin():
        boss = accounts.get_account(s, username="boss")
        assert accounts.check_totp(s, user=boss, code=pyotp.TOTP(secret).now())
        assert not accounts.check_totp(s, user=boss, code=pyotp.TOTP(accounts.new_totp_secret()).now())
        assert not accounts.check_totp(s, user=boss, code="")
    engine.dispose()
