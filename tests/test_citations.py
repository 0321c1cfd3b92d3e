"""Citations a family reads are Chinese: no quote, clause or document name shown in any result
of any case holds a run of four or more Latin letters (the national items quote the Chinese page
of the national baseline, shown as 国家政策要点（整理） with their grade)."""

import re
from pathlib import Path

import yaml

from policy_kb.check import sources_of
from policy_kb.loader import load_kb
from screening.engine import NATIONAL_LABEL, screen

LATIN_RUN = re.compile(r"[A-Za-z]{4,}")
CASES = Path(__file__).parent / "cases"


def _citations(node, where="result"):
    """Every citation in a result: any mapping with a quote, wherever it sits."""
    if isinstance(node, dict):
        if "quote" in node and "clause" in node:
            yield where, node
        for key, value in node.items():
            yield from _citations(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _citations(value, f"{where}[{i}]")


def _all_facts():
    for path in sorted(CASES.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text("utf-8")) or []:
            yield f"{path.stem}: {case['name']}", case["facts"]


def test_no_latin_in_any_citation_of_any_case():
    seen = 0
    national = 0
    for name, facts in _all_facts():
        for where, cite in _citations(screen(facts)):
            seen += 1
            national += cite["document"] == NATIONAL_LABEL
            for key in ("document", "clause", "quote"):
                assert not LATIN_RUN.search(str(cite[key] or "")), (name, where, key, cite[key])
    assert seen > 1000 and national > 100, (seen, national)


def test_no_latin_in_any_source_of_any_pack():
    kb = load_kb()
    for loaded in kb.packs.values():
        for key, src in sources_of(loaded):
            for text in (src.quote, src.clause, src.document or ""):
                assert not LATIN_RUN.search(text), (loaded.id, key, text)


def test_national_items_are_shown_as_the_baseline_summary_with_their_grade():
    result = screen({"region": "杭州", "child": {"age": 9, "hukou_local": True},
                     "father": {"situations": ["deceased"]},
                     "mother": {"situations": ["incarcerated"], "remaining_months": 30}})
    cat = next(c for c in result["categories"] if c["name"] == "事实无人抚养儿童")
    assert cat["source"]["document"] == NATIONAL_LABEL
    assert "民发〔2019〕62号" in cat["source"]["clause"]
    assert cat["source"]["grade"] == "T" and cat["source"]["grade_text"]
    assert "父母一方死亡或经法院宣告失踪" in cat["source"]["quote"]
