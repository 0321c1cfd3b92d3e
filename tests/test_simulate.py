"""`simulate` runs the real questionnaire from a facts file: for every persona it must reach the same
result as `screen`, through the command line as a user of the tool would run it."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, SHARED
from screening.engine import screen

PERSONAS = yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8")) if SHARED else []
MAX_QUESTIONS = 20  # the count per persona is printed by `python -m conversation.simulate`


@pytest.mark.skipif(SHARED is None, reason="../shared/spec/personas.yaml is not beside the repository")
@pytest.mark.parametrize("persona", PERSONAS, ids=[p["id"] for p in PERSONAS])
def test_simulate_equals_screen(persona, tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(persona["facts"], ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, str(REPO / "bot.py"), "simulate", str(facts), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    simulated = json.loads(out.stdout)
    assert simulated["result"] == screen(persona["facts"])
    assert 0 < simulated["questions_asked"] <= MAX_QUESTIONS


def test_simulate_rejects_bad_facts_naming_the_key(tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"region": "温岭", "child": {"age": -3}}), encoding="utf-8")
    out = subprocess.run([sys.executable, str(REPO / "bot.py"), "simulate", str(facts), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and "child.age" in out.stderr
