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


FULL_FAMILY = {  # a family that knows every answer: the gates let "都没有" cover several facts at once
    "region": "温岭",
    "child": {"age": 8, "hukou_local": True, "rural": False, "disability": None, "autism": False,
              "serious_illness": False, "hiv": "none", "living": "relatives", "school_stage": "primary",
              "has_income": True},
    "father": {"situations": ["deceased"]},
    "mother": {"situations": ["incarcerated"], "remaining_months": 30, "disability": None},
    "household": {"dibao": False, "dibao_edge": False, "low_income": False, "tekun": False,
                  "poverty_monitoring": False, "hardship": True, "sudden_crisis": False},
    "safety": {"abused": False, "abandoned": False, "neglected": False, "trafficking_rescued": False},
}
PARTLY_KNOWN_CHILD = {"region": "通化", "child": {"age": 7, "hukou_local": True, "autism": False,
                                                  "disability": {"grade": 2, "kind": "智力", "certificate": True}}}


@pytest.mark.parametrize("facts", [FULL_FAMILY, PARTLY_KNOWN_CHILD], ids=["full", "partly-known-child"])
def test_simulate_equals_screen_when_facts_are_known(facts):
    from conversation.simulate import simulate

    simulated = simulate(facts)
    assert simulated["result"] == screen(facts)
    assert simulated["questions_asked"] <= 18
