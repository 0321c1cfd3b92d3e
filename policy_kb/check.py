"""`python bot.py kb check`: every pack loads, every fact is known, every category can be reached,
every rule has a source, and every quote stands in its source text.

Quotes are compared after removing white space and folding full-width/half-width forms (NFKC),
because the texts were extracted from PDFs with line breaks inside sentences and mixed-width
brackets; the national baseline is a markdown page, so its bold marks (**) are dropped too;
nothing else is forgiven.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from settings import get_settings

from policy_kb.conditions import Context, Fact, Node, Parents, Ref, walk
from policy_kb.loader import (KnowledgeBase, LoadedPack, PackError, _all_nodes, load_kb_uncached,
                              PACKS_DIR)
from policy_kb.schema import Source

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """../shared beside the repository (or $TONGZHU_SHARED), when it exists."""
    env = get_settings().tongzhu_shared
    candidates = [env] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for path in candidates:
        if (path / "policy_sources").is_dir():
            return path
    return None


def normalise(text: str) -> str:
    """White space dropped, widths folded; markdown bold marks (**) of the baseline page dropped."""
    return "".join(unicodedata.normalize("NFKC", text).replace("**", "").split())


@dataclass
class Problem:
    pack: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.pack}: {self.key}: {self.message}"


def sources_of(loaded: LoadedPack) -> Iterator[tuple[str, Source]]:
    p = loaded.pack
    for name, param in p.parameters.items():
        yield f"parameters.{name}", param.source
    for name, std in p.standards.items():
        yield f"standards.{name}", std.source
    for c in p.categories:
        yield f"categories.{c.id}", c.source
        if c.definition_source:
            yield f"categories.{c.id}.definition_source", c.definition_source
    for e in p.entitlements:
        yield f"entitlements.{e.id}", e.source
    for i, s in enumerate(p.stacking):
        yield f"stacking[{i}]", s.source
    for d in p.documents:
        yield f"documents.{d.id}", d.source
    for pr in p.procedures:
        for i, step in enumerate(pr.steps):
            yield f"procedures.{pr.id}.steps[{i}]", step.source
    for h in p.hotlines:
        yield f"hotlines.{h.number}", h.source


def check_quotes(kb: KnowledgeBase, shared: Path) -> list[Problem]:
    texts: dict[str, str] = {}
    by_document: dict[str, str] = {}
    problems: list[Problem] = []
    for loaded in kb.packs.values():
        path = shared / loaded.pack.source_file
        if not path.is_file():
            problems.append(Problem(loaded.id, "source_file", f"{path} not found"))
            continue
        texts[loaded.id] = normalise(path.read_text(encoding="utf-8"))
        by_document[loaded.pack.document] = loaded.id
    for loaded in kb.packs.values():
        if loaded.id not in texts:
            continue
        for key, src in sources_of(loaded):
            if src.document is None:
                pack_id = loaded.id
            else:  # another pack's document, or a national one quoted through the baseline page
                pack_id = by_document.get(src.document, "national")
            if normalise(src.quote) not in texts.get(pack_id, ""):
                problems.append(
                    Problem(loaded.id, key, f"quote not found in {kb.packs[pack_id].pack.source_file}: "
                                            f"{src.quote[:40]!r}")
                )
        for where, node in _all_nodes(loaded):
            if node.stated and normalise(node.stated) not in texts[loaded.id]:
                problems.append(Problem(loaded.id, where, f"stated: not found in "
                                        f"{loaded.pack.source_file}: {node.stated[:40]!r}"))
    return problems


# Conditions a pack must justify: 户籍, 农村, and any age limit other than "a child" (under 18).
_CHILD_AGES = {("le", 17), ("lt", 18), ("ge", 18), ("gt", 17)}


def _needs_basis(node: Node) -> str | None:
    if not isinstance(node, Fact):
        return None
    if node.path in ("child.hukou_local", "child.rural"):
        return node.path
    if node.path == "child.age" and node.op in ("lt", "le", "ge", "gt") and \
            (node.op, node.arg) not in _CHILD_AGES:
        return f"child.age {node.op} {node.arg}"
    return None


def _unbased(node: Node, covered: bool = False) -> Iterator[str]:
    covered = covered or bool(node.stated or node.assumed)
    what = _needs_basis(node)
    if what and not covered:
        yield what
    if isinstance(node, Ref):
        if node.target is not None:
            yield from _unbased(node.target, covered)
        return
    for sub in list(getattr(node, "parts", []) or []) + [
            getattr(node, a, None) for a in ("part", "one", "other")]:
        if isinstance(sub, Node):
            yield from _unbased(sub, covered)


def check_stricter_than_text(kb: KnowledgeBase) -> list[Problem]:
    """No condition stricter than its text: every 户籍, 农村 or age limit that decides a category
    or an entitlement is either `stated:` (the words of the pack's text, checked against it) or
    `assumed:` with its reason (then it makes the category possible, never a near miss). A basis
    on a named definition covers every use of it (the national definitions state theirs)."""
    from screening.engine import category_condition

    problems: list[Problem] = []
    for loaded in kb.packs.values():
        roots = [(f"categories.{c.id}", category_condition(kb, loaded, c.id))
                 for c in loaded.pack.categories]
        roots += [(f"entitlements.{k}", v) for k, v in loaded.entitlements.items() if v is not None]
        for where, root in roots:
            for what in dict.fromkeys(_unbased(root)):
                problems.append(Problem(loaded.id, where, f"condition {what} is not stated by the "
                                        "text: quote the words (stated:) or mark it assumed: with "
                                        "its reason"))
    return problems


def _candidate_values(nodes: list[Node]) -> tuple[dict[str, list[Any]], set[str]]:
    """Values worth trying for each fact: the thresholds and their neighbours."""
    values: dict[str, list[Any]] = {}
    situations: set[str] = set()
    for node in nodes:
        for sub in walk(node, follow_refs=True):
            if isinstance(sub, Parents):
                continue
            if not isinstance(sub, Fact):
                continue
            if sub.path == "situations":
                situations |= set(sub.arg)
                continue
            bucket = values.setdefault(sub.path, [None])
            arg = sub.arg
            if sub.op in ("ge", "gt", "le", "lt"):
                bucket += [arg - 1, arg, arg + 1]
            elif sub.op == "in":
                bucket += list(arg)
            elif sub.op == "present":
                bucket += ["__obj__", "__null__"]
            else:
                bucket += [arg, not arg if isinstance(arg, bool) else None]
    return values, situations


def _build(path_values: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {"region": "x"}
    for path, value in path_values.items():
        if value is None:
            continue
        parts = path.split(".")
        cur = facts
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
            if cur is None:
                break
        else:
            if value == "__null__":
                cur[parts[-1]] = None
            elif value == "__obj__":
                cur.setdefault(parts[-1], {})
            else:
                cur[parts[-1]] = value
    return facts


def reachable(kb: KnowledgeBase, loaded: LoadedPack, category_id: str, tries: int = 4000) -> bool:
    """Search for facts that make the category true (seeded, bounded)."""
    from screening.engine import category_condition  # the same combination the screen uses

    node = category_condition(kb, loaded, category_id)
    values, situations = _candidate_values([node])
    parent_paths = [p for p in values if p.startswith(("remaining_months", "unreachable_months",
                                                        "disability"))]
    top_paths = [p for p in values if p not in parent_paths]
    sits = sorted(situations) or ["deceased"]
    rng = random.Random(category_id)
    ctx = Context(kb.describe)
    for _ in range(tries):
        facts = _build({p: rng.choice(values[p]) for p in top_paths})
        for role in ("father", "mother"):
            parent: dict[str, Any] = {"situations": rng.sample(sits, k=rng.randint(0, min(2, len(sits))))}
            parent.update(_build({p: rng.choice(values[p]) for p in parent_paths}))
            parent.pop("region", None)
            facts[role] = parent
        if node.evaluate(facts, ctx).value is True:
            return True
    return False


def check(kb_dir: Path = PACKS_DIR, shared: Path | None = None) -> list[Problem]:
    try:
        kb = load_kb_uncached(kb_dir)
    except PackError as exc:
        return [Problem(Path(exc.file).name, exc.key, str(exc).split(": ", 2)[-1])]
    problems: list[Problem] = []
    for loaded in kb.packs.values():
        for cat in loaded.pack.categories:
            if not reachable(kb, loaded, cat.id):
                problems.append(Problem(loaded.id, f"categories.{cat.id}",
                                        "unreachable: no facts found that make it apply"))
        for key, src in sources_of(loaded):
            if not src.clause.strip():
                problems.append(Problem(loaded.id, key, "source without a clause"))
        if loaded.id == "national":
            for key, src in sources_of(loaded):
                if src.grade is None:
                    problems.append(Problem(loaded.id, key, "national item without a grade (T/P/U)"))
    problems += check_stricter_than_text(kb)
    shared = shared or shared_dir()
    if shared is not None:
        problems += check_quotes(kb, shared)
    return problems
