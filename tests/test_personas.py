"""Every worked family of ../shared/spec/personas.yaml comes out as the spec says."""

import pytest
import yaml

from conftest import SHARED, document_text, dump, entitlement_text
from screening.engine import screen

PERSONAS = yaml.safe_load((SHARED / "spec" / "personas.yaml").read_text("utf-8")) if SHARED else []


@pytest.mark.skipif(SHARED is None, reason="../shared/spec/personas.yaml is not beside the repository")
@pytest.mark.parametrize("persona", PERSONAS, ids=[p["id"] for p in PERSONAS])
def test_persona(persona):
    result = screen(persona["facts"])
    expect = persona["expect"]
    names = [c["name"] for c in result["categories"]]
    if "matched" in expect:
        if expect["matched"] is None:
            assert result["region"]["matched"] is None
        else:
            assert expect["matched"] in (result["region"]["matched"] or "")
    for words in expect.get("categories_any", []):
        assert any(w in c["name"] or w in c["why"] for c in result["categories"] for w in words), (
            words, names)
    for word in expect.get("categories_none", []):
        assert not any(word in n for n in names), (word, names)
    for word in expect.get("entitlements_text", []):
        assert word in entitlement_text(result), word
    for word in expect.get("documents_text", []):
        assert word in document_text(result), word
    if "count" in expect:
        assert len(result["categories"]) == expect["count"], names
    if "urgent" in expect:
        assert result["urgent"] is expect["urgent"]
    for word in expect.get("anywhere_text", []):
        assert word in dump(result)
    for category in result["categories"] + result["entitlements"]:
        assert category["source"]["quote"] and category["source"]["document"]


@pytest.mark.skipif(SHARED is None, reason="../shared/spec/personas.yaml is not beside the repository")
@pytest.mark.parametrize("persona", PERSONAS, ids=[p["id"] for p in PERSONAS])
def test_persona_reads_as_text(persona):
    from templates import render_text

    text = render_text("text/screen.txt.j2", r=screen(persona["facts"]))
    assert "地区" in text and "None" not in text
