"""Boundary cases per pack (tests/cases/<pack>.yaml), in the OpenFisca style."""

from pathlib import Path

import pytest
import yaml

from conftest import document_text, entitlement_text
from screening.engine import screen

CASES = []
for path in sorted((Path(__file__).parent / "cases").glob("*.yaml")):
    for case in yaml.safe_load(path.read_text("utf-8")) or []:
        CASES.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))


@pytest.mark.parametrize("case", CASES)
def test_case(case):
    result = screen(case["facts"])
    expect = case["expect"]
    names = [c["name"] for c in result["categories"]]
    possible = [c["name"] for c in result["possible_categories"]]
    near = [c["name"] for c in result["near_misses"]]
    for name in expect.get("categories", []):
        assert name in names, (name, names)
    for name in expect.get("not_categories", []):
        assert name not in names, (name, names)
    for name in expect.get("possible", []):
        assert name in possible, (name, possible)
    for name in expect.get("near_misses", []):
        assert name in near, (name, near, result["near_misses"])
    for word in expect.get("entitlements_text", []):
        assert word in entitlement_text(result), word
    for word in expect.get("not_entitlements_text", []):
        assert word not in entitlement_text(result), word
    for word in expect.get("documents_text", []):
        assert word in document_text(result), word
    if "urgent" in expect:
        assert result["urgent"] is expect["urgent"]
    if "count" in expect:
        assert len(names) == expect["count"], names
