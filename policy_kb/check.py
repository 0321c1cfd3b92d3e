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

from policy_kb.conditions import All, AnyOf, Context, Fact, Node, Parents, Ref, walk
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


def _enums() -> dict[str, list[str]]:
    from screening.facts import DISABILITY_KINDS

    return {"child.living": ["family", "relatives", "institution", "alone", "street"],
            "child.hiv": ["none", "affected", "infected"],
            "child.school_stage": ["none", "preschool", "primary", "junior", "senior", "vocational",
                                   "higher"],
            "child.disability.kind": list(DISABILITY_KINDS), "disability.kind": list(DISABILITY_KINDS)}


def _other(path: str, used: list[Any]) -> Any:
    """A valid value of the fact outside `used` (to make an `is`/`in` condition false)."""
    return next((v for v in _enums().get(path, []) if v not in used), "__other__")


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
                bucket += list(arg) + [_other(sub.path, list(arg))]
            elif sub.op == "present":
                bucket += ["__obj__", "__null__"]
            else:  # is: the value, and another one
                bucket += [arg, not arg if isinstance(arg, bool) else _other(sub.path, [arg])]
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

    return bool(_search(kb, category_condition(kb, loaded, category_id), category_id, None, tries=tries))


CHILD_AGES = [0, 1, 3, 5, 6, 7, 9, 12, 14, 15, 16, 17]
ADULT_AGES = [18, 19, 20, 23]


def entitlement_condition(kb: KnowledgeBase, loaded: LoadedPack, ent: Any) -> Node:
    """Who an entitlement is for: any of its categories (with their base), and its `when`."""
    from screening.engine import category_condition

    parts: list[Node] = []
    if ent.for_categories:
        cats = []
        for cid in ent.for_categories:
            pack_id, _, name = cid.rpartition(":")
            owner = kb.packs[pack_id] if pack_id else loaded
            cats.append(category_condition(kb, owner, name))
        parts.append(AnyOf(cats, None))
    if ent.when is not None:
        parts.append(loaded.entitlements[ent.id])
    return All(parts, None)


def _search(kb: KnowledgeBase, node: Node, seed: str, ages: list[int] | None, tries: int = 3000,
            want: int = 1) -> list[dict[str, Any]]:
    """Up to `want` sets of facts that make `node` true, with the child's age among `ages` (None:
    any age the conditions name)."""
    found: list[dict[str, Any]] = []
    values, situations = _candidate_values([node])
    if ages is not None:
        wanted = set(ages)
        thresholds = [v for v in values.pop("child.age", []) if isinstance(v, int) and v in range(0, 31)]
        values["child.age"] = sorted(wanted | {v for v in thresholds if v in range(min(ages), max(ages) + 1)})
    parent_paths = [p for p in values if p.startswith(("remaining_months", "unreachable_months",
                                                        "disability"))]
    top_paths = [p for p in values if p not in parent_paths]
    sits = sorted(situations) or ["deceased"]
    rng = random.Random(seed)
    ctx = Context(kb.describe)
    for _ in range(tries):
        facts = _build({p: rng.choice(values[p]) for p in top_paths})
        for role in ("father", "mother"):
            parent: dict[str, Any] = {"situations": rng.sample(sits, k=rng.randint(0, min(2, len(sits))))}
            parent.update(_build({p: rng.choice(values[p]) for p in parent_paths}))
            parent.pop("region", None)
            facts[role] = parent
        if node.evaluate(facts, ctx).value is True:
            found.append(facts)
            if len(found) >= want:
                break
    return found


def _valid(facts: dict[str, Any]) -> dict[str, Any]:
    """Fill what a built disability object lacks, so the facts pass the contract."""
    for owner in (facts.get("child"), facts.get("father"), facts.get("mother")):
        if isinstance(owner, dict) and isinstance(owner.get("disability"), dict):
            owner["disability"].setdefault("grade", 2)
            owner["disability"].setdefault("kind", "肢体")
    return facts


def _completed(facts: dict[str, Any]) -> dict[str, Any]:
    """Every fact the search left unknown, settled (a true condition stays true in three-valued
    logic): so that no other item of the topic is left pending."""
    out = {**facts, "child": dict(facts.get("child") or {}),
           "household": dict(facts.get("household") or {}), "safety": dict(facts.get("safety") or {})}
    for key in ("autism", "serious_illness", "cerebral_palsy", "rural", "has_income"):
        out["child"].setdefault(key, False)
    out["child"].setdefault("hukou_local", True)
    out["child"].setdefault("hiv", "none")
    out["child"].setdefault("living", "family")
    out["child"].setdefault("school_stage", "primary")
    for key in ("dibao", "dibao_edge", "low_income", "tekun", "poverty_monitoring", "hardship",
                "sudden_crisis"):
        out["household"].setdefault(key, False)
    for key in ("abused", "abandoned", "neglected", "trafficking_rescued"):
        out["safety"].setdefault(key, False)
    out.setdefault("migrant", False)
    for role in ("father", "mother"):
        parent = dict(out.get(role) or {})
        parent.setdefault("situations", [])
        out[role] = parent
    return out


def _shown(kb: KnowledgeBase, loaded: LoadedPack, ent: Any, facts: dict[str, Any]) -> bool:
    """The screen for the pack's place lists the item, or says a newer rule replaced it."""
    from screening.engine import screen
    from screening.facts import FactsError

    region = loaded.pack.places[0].short if loaded.pack.places else "杭州"
    facts = _completed(_valid(facts))
    try:
        result = screen({**facts, "region": region}, kb=kb)
    except FactsError:
        return False
    ids = {e["id"] for e in result["entitlements"]}
    return f"{loaded.id}:{ent.id}" in ids or any(f"「{ent.name}」" in n for n in result["notes"])


def check_entitlements_reachable(kb: KnowledgeBase) -> list[Problem]:
    """Every entitlement a text gives to a group of children is reachable by some family of that
    group at the age it applies: a child item for some child under 18; an item for "成年后"
    (adult: true) for some young person of 18 or over (a child of its groups sees it as help for
    later: from_age 18 in the result)."""
    problems: list[Problem] = []
    for loaded in kb.packs.values():
        for ent in loaded.pack.entitlements:
            node = entitlement_condition(kb, loaded, ent)
            key = f"entitlements.{ent.id}"
            ages = ADULT_AGES if ent.adult else CHILD_AGES
            found = _search(kb, node, f"{loaded.id}:{ent.id}", ages, tries=1500, want=8)
            if not found:
                who = "a young person of 18 or over" if ent.adult else "a child under 18"
                problems.append(Problem(loaded.id, key, f"unreachable: no facts of {who} make it apply"))
                continue
            if not any(_shown(kb, loaded, ent, facts) for facts in found):
                problems.append(Problem(loaded.id, key, "its conditions hold but the screen never shows "
                                                        "it (hidden by another item of its topic)"))
    return problems


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
    problems += check_entitlements_reachable(kb)
    shared = shared or shared_dir()
    if shared is not None:
        problems += check_quotes(kb, shared)
    return problems
