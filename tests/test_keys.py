"""The data key: a per-install key file outside production (mode 0600, never derived from the
source), its fingerprint kept in the database, a refusal to start with another key, and
`bot.py keys rotate` (MultiFernet) after which old cases still decrypt and duplicates are still found."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from conftest import REPO
from storage import crypto
from storage.db import make_engine
from storage.keys import KeyMismatch, rotate
from storage.models import Child, ConversationState, Family, PreApplication
from tg import Harness, child_id, file_case


def run_bot(*args, env):
    return subprocess.run([sys.executable, str(REPO / "bot.py"), *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, cwd=REPO)


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    for name in ("TONGZHU_DATA_KEY", "TONGZHU_ENV", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TONGZHU_KEY_FILE", str(tmp_path / "keys" / "data.key"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    return tmp_path


def test_outside_production_a_key_is_made_once_per_install_mode_0600_with_a_warning(clean_env):
    env = dict(os.environ)
    out = run_bot("db", "upgrade", env=env)
    assert out.returncode == 0, out.stderr
    path = clean_env / "keys" / "data.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "TONGZHU_DATA_KEY is not set" in out.stderr and str(path) in out.stderr
    key = path.read_text().strip()
    assert run_bot("db", "upgrade", env=env).returncode == 0
    assert path.read_text().strip() == key, "made once, then kept"
    other = clean_env / "other.key"
    env2 = {**env, "TONGZHU_KEY_FILE": str(other)}
    run_bot("keys", "fingerprint", env=env2)
    assert other.read_text().strip() != key, "another install, another key (nothing derived from the source)"


def test_a_different_key_refuses_to_start_and_says_why(clean_env, monkeypatch):
    engine = make_engine()  # records the key file's fingerprint
    engine.dispose()
    monkeypatch.setenv("TONGZHU_DATA_KEY", crypto.new_key())
    crypto.reset_keys()
    with pytest.raises(KeyMismatch, match="another data key"):
        make_engine()
    out = run_bot("db", "upgrade", env=dict(os.environ))
    assert out.returncode == 2 and "another data key" in out.stderr and "Traceback" not in out.stderr
    out = run_bot("doctor", env=dict(os.environ))
    assert out.returncode == 1 and "FAIL data key" in out.stdout


def test_rotation_reencrypts_everything_and_duplicates_are_still_found(clean_env, monkeypatch):
    old = crypto.new_key()
    monkeypatch.setenv("TONGZHU_DATA_KEY", old)
    crypto.reset_keys()
    url = f"sqlite:///{clean_env / 'k.db'}"
    number = child_id(9, seq="321")

    async def file(user):
        async with Harness(url) as h:
            h.ids = itertools.count(user * 1000)  # the same bot: update ids go on growing
            return await file_case(h, user, number=number)

    first = asyncio.run(file(7401))
    new = crypto.new_key()
    monkeypatch.setenv("TONGZHU_DATA_KEY", f"{new},{old}")
    crypto.reset_keys()
    engine = make_engine(url)  # the old key is still configured: starts, with a warning
    counts = rotate(engine)
    assert counts["ids"] == 1 and counts["phones"] == 1 and counts["states"] >= 1
    monkeypatch.setenv("TONGZHU_DATA_KEY", new)  # the old key gone
    crypto.reset_keys()
    with Session(engine) as s:
        child = s.exec(select(Child)).one()
        assert crypto.decrypt(child.id_enc) == number
        assert crypto.decrypt(s.exec(select(Family)).one().phone_enc) == "13812345678"
        for state in s.exec(select(ConversationState)):
            assert not state.state_json.startswith("{")
    engine.dispose()
    second = asyncio.run(file(7402))
    engine = make_engine(url)
    with Session(engine) as s:
        case = s.exec(select(PreApplication).where(PreApplication.reference == second)).one()
    engine.dispose()
    assert case.duplicate_of == first, "the duplicate hash keeps working after the rotation"
    out = run_bot("keys", "fingerprint", env=dict(os.environ))
    assert out.stdout.count(crypto.fingerprint(new)) == 2, out.stdout
