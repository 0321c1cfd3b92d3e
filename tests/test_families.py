"""Ask only what matters (issue 12 item 2): for every persona of ../shared/spec/personas.yaml and every
family of tests/families/, the real questionnaire (`conversation.simulate`) reaches the same result
as `screen` on the same facts, within the question budget, and the progress line ("第N步，约M步")
never grows by more than one between steps. The issue's target is mean ≤ 10, max ≤ 14; the budget
below is what the questionnaire reaches today (`python -m conversation.simulate` prints it) and
may only go down."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO, SHARED
from conversation.simulate import simulate
from screening.engine import screen

FAMILIES = [f for path in sorted((REPO / "tests" / "families").glob("*.yaml"))
            for f in yaml.safe_load(path.read_text(encoding="utf-8"))]
PERSONAS = yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8")) if SHARED else []
ALL = FAMILIES + PERSONAS
PLACES = ("通化", "温岭", "綦江", "门头沟", "重庆")
MAX_QUESTIONS = 14  # the issue target
MEAN_QUESTIONS = 9.88  # today 9.875 (issue target 10)


def test_at_least_forty_new_families_across_the_five_places():
    assert len(FAMILIES) >= 40
    ids = [f["id"] for f in ALL]
    assert len(ids) == len(set(ids))
    for place in PLACES:
        assert sum(place in f["facts"]["region"] for f in FAMILIES) >= 5, place


@pytest.fixture(scope="module")
def simulated():
    return {f["id"]: simulate(f["facts"]) for f in ALL}


@pytest.mark.parametrize("family", ALL, ids=[f["id"] for f in ALL])
def test_simulate_equals_screen(family, simulated):
    out = simulated[family["id"]]
    assert out["result"] == screen(family["facts"])
    assert out["questions_asked"] <= MAX_QUESTIONS


def test_mean_questions(simulated):
    counts = [s["questions_asked"] for s in simulated.values()]
    assert sum(counts) / len(counts) <= MEAN_QUESTIONS, sorted(counts)


@pytest.mark.parametrize("family", ALL[::5], ids=[f["id"] for f in ALL[::5]])
def test_progress_never_grows_by_more_than_one(family):
    steps = simulate(family["facts"], trace=True)["progress"]
    assert steps, "no question asked"
    for (s1, t1), (s2, t2) in zip(steps, steps[1:]):
        assert s2 == s1 + 1 and t2 <= t1 + 1, steps
