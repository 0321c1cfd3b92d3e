"""Load and validate the policy packs; compile their conditions; link references across packs.

`load_kb()` returns a KnowledgeBase or raises PackError naming the file and the key at fault.
The result is cached per folder: packs are read once per process.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from datafile import read_yaml
from policy_kb.conditions import ConditionError, Describer, Node, Ref, compile_condition, walk
from policy_kb.schema import Pack

KB_DIR = Path(__file__).resolve().parent
PACKS_DIR = KB_DIR / "packs"
NATIONAL = "national"


class PackError(ValueError):
    def __init__(self, file: Path | str, key: str, message: str):
        self.file, self.key = str(file), key
        super().__init__(f"{Path(file).name}: {key}: {message}")


@dataclass
class LoadedPack:
    pack: Pack
    file: Path
    base: Node | None = None
    urgent: Node | None = None
    definitions: dict[str, Node] = field(default_factory=dict)
    parent_definitions: dict[str, Node] = field(default_factory=dict)
    categories: dict[str, Node] = field(default_factory=dict)
    entitlements: dict[str, Node | None] = field(default_factory=dict)
    documents: dict[str, Node | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.pack.id


@dataclass
class KnowledgeBase:
    packs: dict[str, LoadedPack]
    describe: Describer
    version: str

    @property
    def national(self) -> LoadedPack:
        return self.packs[NATIONAL]


def _read_yaml(path: Path) -> Any:
    try:
        return read_yaml(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(yaml)"
        raise PackError(path, where, f"not valid YAML: {exc}") from None


def _compile_pack(pack: Pack, path: Path) -> LoadedPack:
    loaded = LoadedPack(pack=pack, file=path)

    def comp(raw: Any, where: str, parent_scope: bool = False) -> Node:
        try:
            return compile_condition(raw, where, parent_scope)
        except ConditionError as exc:
            raise PackError(path, where, str(exc).split(": ", 1)[-1]) from None

    if pack.base is not None:
        loaded.base = comp(pack.base, "base")
    if pack.urgent_when is not None:
        loaded.urgent = comp(pack.urgent_when, "urgent_when")
    for name, raw in pack.definitions.items():
        loaded.definitions[name] = comp(raw, f"definitions.{name}")
    for name, raw in pack.parent_definitions.items():
        loaded.parent_definitions[name] = comp(raw, f"parent_definitions.{name}", True)
    for i, cat in enumerate(pack.categories):
        loaded.categories[cat.id] = comp(cat.when, f"categories[{i}].when")
    for i, ent in enumerate(pack.entitlements):
        loaded.entitlements[ent.id] = comp(ent.when, f"entitlements[{i}].when") if ent.when else None
    for i, doc in enumerate(pack.documents):
        loaded.documents[doc.id] = comp(doc.when, f"documents[{i}].when") if doc.when else None
    return loaded


def _all_nodes(loaded: LoadedPack):
    roots: list[tuple[str, Node | None]] = [("base", loaded.base), ("urgent_when", loaded.urgent)]
    roots += [(f"definitions.{k}", v) for k, v in loaded.definitions.items()]
    roots += [(f"parent_definitions.{k}", v) for k, v in loaded.parent_definitions.items()]
    roots += [(f"categories.{k}", v) for k, v in loaded.categories.items()]
    roots += [(f"entitlements.{k}", v) for k, v in loaded.entitlements.items()]
    roots += [(f"documents.{k}", v) for k, v in loaded.documents.items()]
    for where, root in roots:
        if root is not None:
            for node in walk(root):
                yield where, node


def _link(packs: dict[str, LoadedPack]) -> None:
    for loaded in packs.values():
        for where, node in _all_nodes(loaded):
            if not isinstance(node, Ref):
                continue
            pack_id, _, name = node.name.rpartition(":")
            target_pack = packs.get(pack_id or loaded.id)
            table = "parent_definitions" if node.parent_scope else "definitions"
            if target_pack is None or name not in getattr(target_pack, table):
                raise PackError(loaded.file, where, f"ref {node.name!r} names nothing in {table}")
            node.target = getattr(target_pack, table)[name]
        for kind, ids in (
            ("entitlements", [(e.id, e.for_categories) for e in loaded.pack.entitlements]),
            ("documents", [(d.id, d.for_categories) for d in loaded.pack.documents]),
            ("procedures", [(p.id, p.for_categories) for p in loaded.pack.procedures]),
        ):
            for item_id, cats in ids:
                for cid in cats:
                    pack_id, _, name = cid.rpartition(":")
                    if pack_id and (pack_id not in packs or name not in packs[pack_id].categories):
                        raise PackError(loaded.file, f"{kind}.{item_id}", f"unknown category {cid!r}")
        for i, group in enumerate(loaded.pack.stacking):
            for eid in group.members:
                pack_id, _, name = eid.rpartition(":")
                if pack_id and (pack_id not in packs or name not in packs[pack_id].entitlements):
                    raise PackError(loaded.file, f"stacking[{i}]", f"unknown entitlement {eid!r}")
    _check_cycles(packs)


def _check_cycles(packs: dict[str, LoadedPack]) -> None:
    def visit(node: Node, stack: tuple[int, ...]) -> None:
        for sub in walk(node):
            if isinstance(sub, Ref) and sub.target is not None:
                if id(sub.target) in stack:
                    raise ValueError(f"definition {sub.name!r} refers to itself")
                visit(sub.target, stack + (id(sub.target),))

    for loaded in packs.values():
        for name, node in {**loaded.definitions, **loaded.parent_definitions}.items():
            try:
                visit(node, (id(node),))
            except ValueError as exc:
                raise PackError(loaded.file, f"definitions.{name}", str(exc)) from None


def load_pack_file(path: Path) -> LoadedPack:
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise PackError(path, "(top)", "a pack must be a mapping")
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise PackError(path, key, err["msg"]) from None
    if pack.id != path.stem:
        raise PackError(path, "id", f"must equal the file name {path.stem!r}")
    return _compile_pack(pack, path)


def load_kb_uncached(directory: Path = PACKS_DIR) -> KnowledgeBase:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PackError(directory, "(folder)", "no packs found")
    packs: dict[str, LoadedPack] = {}
    digest = hashlib.sha256()
    for path in files:
        loaded = load_pack_file(path)
        packs[loaded.id] = loaded
        digest.update(path.read_bytes())
    if NATIONAL not in packs:
        raise PackError(directory, "(folder)", "the national pack national.yaml is missing")
    vocab_path = KB_DIR / "vocabulary.yaml"
    digest.update(vocab_path.read_bytes())
    _link(packs)
    return KnowledgeBase(packs=packs, describe=Describer(_read_yaml(vocab_path)),
                         version=digest.hexdigest()[:12])


@functools.lru_cache(maxsize=4)
def _cached(directory: str) -> KnowledgeBase:
    return load_kb_uncached(Path(directory))


def load_kb(directory: Path | None = None) -> KnowledgeBase:
    return _cached(str(directory or PACKS_DIR))
