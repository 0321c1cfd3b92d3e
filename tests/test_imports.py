"""The house untangled: zhtext (understanding Chinese text) sits below both the conversation and
free text; free text does not import the conversation; intake does not import matcher; the engine
does not reach up into casework. Read off the source with ast, so a lazy import inside a function
counts too."""

import ast
from pathlib import Path

from conftest import REPO


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def package_imports(package: str) -> dict[str, set[str]]:
    return {p.name: imports(p) for p in (REPO / package).glob("*.py")}


def test_zhtext_imports_neither_the_conversation_nor_free_text():
    for name, mods in package_imports("zhtext").items():
        assert not {m for m in mods if m.split(".")[0] in ("conversation", "freetext", "casework", "handlers")}, name


def test_free_text_does_not_import_the_conversation():
    for name, mods in package_imports("freetext").items():
        assert not {m for m in mods if m.startswith("conversation")}, name


def test_intake_and_matcher_form_no_cycle():
    assert not {m for m in imports(REPO / "freetext" / "intake.py") if m.startswith("freetext")}


def test_conversation_uses_only_the_public_face_of_free_text_and_not_casework():
    for name, mods in package_imports("conversation").items():
        assert not {m for m in mods if m.startswith("freetext.")}, name
        if name != "session.py":
            assert not {m for m in mods if m.startswith(("casework", "handlers"))}, name
