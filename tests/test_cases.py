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
    for word in expect.get("not_documents_text", []):
        assert word not in document_text(result), word
    for name in expect.get("not_near_misses", []):
        assert name not in near, (name, near)
    for name in expect.get("not_possible", []):
        assert name not in possible, (name, possible)
    assumed = "\n".join(a["text"] for a in result["assumptions"])
    for word in expect.get("assumptions_text", []):
        assert word in assumed, (word, assumed)
    stacking = "\n".join(f"{s['rule']}：{s['text']}（{'、'.join(s['applies_to'])}）"
                          for s in result["stacking"])
    for word in expect.get("stacking_text", []):
        assert word in stacking, (word, stacking)
    for word in expect.get("not_stacking_text", []):
        assert word not in stacking, (word, stacking)
    notes = "\n".join(n["text"] for n in result.get("time_notes", []))
    for word in expect.get("time_notes_text", []):
        assert word in notes, (word, notes)
    for word in expect.get("notes_text", []):
        assert any(word in n for n in result["notes"]), (word, result["notes"])
    for word in expect.get("not_notes_text", []):
        assert not any(word in n for n in result["notes"]), (word, result["notes"])
    procedure = "\n".join(p["name"] + " " + " ".join(st["text"] for st in p["steps"])
                          for p in result["procedure"])
    for word in expect.get("procedure_text", []):
        assert word in procedure, (word, procedure)
    for word in expect.get("not_procedure_text", []):
        assert word not in procedure, (word, procedure)
    later = "\n".join(e["name"] for e in result["entitlements"] if e.get("from_age"))
    now = "\n".join(e["name"] for e in result["entitlements"] if not e.get("from_age"))
    for word in expect.get("later_text", []):
        assert word in later, (word, later)
    for word in expect.get("not_now_text", []):
        assert word not in now, (word, now)
    if "urgent" in expect:
        assert result["urgent"] is expect["urgent"]
    if "count" in expect:
        assert len(names) == expect["count"], names
