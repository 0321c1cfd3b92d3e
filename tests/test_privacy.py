"""The data policy shown at consent is the one kept in docs/, and production needs a key."""

import os
import subprocess
import sys

from conftest import REPO
from templates import render_text


def test_the_policy_shown_at_consent_is_the_one_in_docs():
    shown = render_text("text/data_policy.txt.j2", who="guardian", days=30).strip().splitlines()
    doc = (REPO / "docs" / "data-policy.md").read_text(encoding="utf-8")
    for line in shown:
        assert line in doc, line


def test_production_without_a_key_refuses_to_start_and_says_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TONGZHU_DATA_KEY", "TELEGRAM_BOT_TOKEN")}
    env.update(TONGZHU_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    out = subprocess.run([sys.executable, str(REPO / "bot.py")], env=env, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "TONGZHU_DATA_KEY" in out.stdout + out.stderr
