"""Conditions over household facts, in three-valued logic.

A fact that was not given is *unknown* (None), not false: `all` is false as soon as one part is
false, `any` true as soon as one part is true, and otherwise the answer stays unknown and names
the facts that would settle it.  A true outcome carries the plain-Chinese reasons ("父亲已去世");
a false one the parts that failed, each with its `why_not` sentence where the pack gives one, so
that a near miss can say what would change it.

Conditions are compiled once, when a pack loads: a malformed one raises ConditionError naming
its place in the pack (`categories[2].when.all[1]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from screening.facts import (
    Child,
    ChildDisability,
    Facts,
    Household,
    Parent,
    ParentDisability,
    Safety,
)

TV = bool | None

_MISSING = object()  # key not given: unknown
_ABSENT = object()  # an enclosing object is explicitly null: known "none"


class ConditionError(ValueError):
    pass


@dataclass
class Failure:
    actual: str  # what the facts say, in words
    why_not: str | None  # what the rule requires, in words


@dataclass
class Outcome:
    value: TV
    reasons: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    partial: int = 0  # when false: how many parts did hold (the closest branch explains a near miss)
    open_parts: int = 0  # when false: parts still unknown beside the failure (then no near miss)
    assumed: list[str] = field(default_factory=list)  # when unknown: assumptions that did not hold


def _closest(outs: list[Outcome]) -> Outcome:
    return max(outs, key=lambda o: (o.partial, -len(o.failed)))


def _paths(model: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    nested = {
        "disability": {Child: ChildDisability, Parent: ParentDisability},
    }
    for name in model.model_fields:
        path = f"{prefix}{name}"
        out.add(path)
        sub = {"child": Child, "father": Parent, "mother": Parent, "household": Household,
               "safety": Safety}.get(name) if model is Facts else None
        if name == "disability":
            sub = nested["disability"].get(model)
        if sub is not None:
            out |= _paths(sub, path + ".")
    return out


FACT_PATHS = _paths(Facts)
PARENT_PATHS = _paths(Parent)


class Describer:
    """Turns a fact and its value into words, from policy_kb/vocabulary.yaml."""

    def __init__(self, vocab: dict[str, Any]):
        self.vocab = vocab

    def role(self, role: str) -> str:
        return self.vocab["roles"][role]

    def situation(self, value: str) -> str:
        return self.vocab["situations"][value]

    def __call__(self, path: str, value: Any, parent_scope: bool) -> str:
        table = self.vocab["parent_facts" if parent_scope else "facts"]
        entry = table.get(path)
        if value is _ABSENT:
            value = None
        if isinstance(value, dict):
            template = table.get(path + ".present", "{kind}")
            return template.format_map(_Blank(value))
        if path.endswith("situations") and isinstance(value, list):
            return "、".join(self.situation(v) for v in value) or self.vocab["no_situation"]
        if value is None and not isinstance(entry, dict):
            owner = table.get(path.rsplit(".", 1)[0])
            if isinstance(owner, dict) and (None in owner or "null" in owner):
                return owner.get(None, owner.get("null"))
            return self.vocab["unknown_value"]
        if entry is None:
            return f"{path}={value}"
        if isinstance(entry, dict):
            for key in (value, {True: "true", False: "false", None: "null"}.get(value)):
                if key in entry:
                    return entry[key]
            return entry.get(None, entry.get("null", f"{path}={value}"))
        return entry.format(value=value)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Node:
    why_not: str | None = None
    stated: str | None = None  # the words of the pack's own text that state this condition
    assumed: str | None = None  # the condition is practice, not text: the reason, for the family

    def evaluate(self, root: dict, ctx: "Context") -> Outcome:  # pragma: no cover
        raise NotImplementedError

    def facts(self) -> set[str]:  # pragma: no cover
        raise NotImplementedError

    def _fail(self, out: Outcome, ctx: "Context") -> Outcome:
        if out.value is False and self.why_not:
            actual = "；".join(f.actual for f in out.failed if f.actual)
            out.failed = [Failure(actual, self.why_not)]
        return out


@dataclass
class Context:
    describe: Describer
    scope: str = ""  # "" at top level, "father." / "mother." inside a parent condition

    @property
    def parent_scope(self) -> bool:
        return bool(self.scope)


def resolve(root: dict, path: str) -> Any:
    cur: Any = root
    for part in path.split("."):
        if cur is None:
            return _ABSENT
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "is": lambda v, a: v == a,
    "in": lambda v, a: v in a,
    "ge": lambda v, a: v >= a,
    "gt": lambda v, a: v > a,
    "le": lambda v, a: v <= a,
    "lt": lambda v, a: v < a,
    "has_any": lambda v, a: bool(set(v) & set(a)),
    "present": lambda v, a: (v is not None) == a,
}


class Fact(Node):
    def __init__(self, path: str, op: str, arg: Any, why_not: str | None):
        self.path, self.op, self.arg, self.why_not = path, op, arg, why_not

    def facts(self) -> set[str]:
        return {self.path}

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        value = resolve(root, self.path)
        if value is _MISSING or (value is None and self.op != "present"):
            path = self.path
            if ".disability." in "." + path and resolve(root, path.rsplit(".", 1)[0]) is _MISSING:
                path = path.rsplit(".", 1)[0]  # ask about the disability, not its grade first
            return Outcome(None, unknown=[ctx.scope + path])
        if value is _ABSENT:
            truth = self.op == "present" and self.arg is False
        else:
            truth = _OPS[self.op](value, self.arg)
        words = ctx.describe(self.path, value, ctx.parent_scope)
        if self.op == "has_any" and truth:
            words = "、".join(ctx.describe.situation(v) for v in value if v in self.arg)
        if truth:
            return Outcome(True, reasons=[words])
        return self._fail(Outcome(False, failed=[Failure(words, None)]), ctx)


class All(Node):
    def __init__(self, parts: list[Node], why_not: str | None):
        self.parts, self.why_not = parts, why_not

    def facts(self) -> set[str]:
        return set().union(*(p.facts() for p in self.parts))

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        return self._fail(combine_all([p.evaluate(root, ctx) for p in self.parts]), ctx)


class AnyOf(Node):
    def __init__(self, parts: list[Node], why_not: str | None):
        self.parts, self.why_not = parts, why_not

    def facts(self) -> set[str]:
        return set().union(*(p.facts() for p in self.parts))

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        return self._fail(combine_any([p.evaluate(root, ctx) for p in self.parts]), ctx)


class Not(Node):
    def __init__(self, part: Node, why_not: str | None):
        self.part, self.why_not = part, why_not

    def facts(self) -> set[str]:
        return self.part.facts()

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        o = self.part.evaluate(root, ctx)
        if o.value is None:
            return o
        if o.value is False:
            return Outcome(True)
        return self._fail(Outcome(False, failed=[Failure("；".join(o.reasons), None)]), ctx)


class Ref(Node):
    """A named definition, linked after every pack has loaded."""

    def __init__(self, name: str, why_not: str | None, parent_scope: bool = False):
        self.name, self.why_not, self.parent_scope = name, why_not, parent_scope
        self.target: Node | None = None

    def facts(self) -> set[str]:
        return self.target.facts() if self.target else set()

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        assert self.target is not None, f"unlinked ref {self.name}"
        return self._fail(self.target.evaluate(root, ctx), ctx)


class Assumed(Node):
    """A condition the text does not state (户籍 where the text is silent, an age borrowed from
    another document). Held, it changes nothing; not held, the category stays *possible* (never a
    near miss) and the answer says what is assumed."""

    def __init__(self, part: Node, reason: str):
        self.part, self.assumed = part, reason
        self.why_not = None

    def facts(self) -> set[str]:
        return self.part.facts()

    def evaluate(self, root: dict, ctx: "Context") -> Outcome:
        o = self.part.evaluate(root, ctx)
        if o.value is False:
            return Outcome(None, assumed=[self.assumed])
        if o.value is None:
            o.assumed = list(dict.fromkeys(o.assumed + [self.assumed]))
        return o


ROLES = ("father", "mother")


class Parents(Node):
    def __init__(self, mode: str, one: Node, other: Node | None, why_not: str | None):
        self.mode, self.one, self.other, self.why_not = mode, one, other, why_not

    def facts(self) -> set[str]:
        inner = self.one.facts() | (self.other.facts() if self.other else set())
        return {f"{role}.{p}" for role in ROLES for p in inner}

    def _on(self, node: Node, role: str, root: dict, ctx: Context) -> Outcome:
        parent = root.get(role, _MISSING) if isinstance(root, dict) else _MISSING
        inner_ctx = Context(ctx.describe, scope=f"{role}.")
        if parent is _MISSING or parent is None:
            wanted = node.facts()
            paths = ["situations"] + (["disability"] if any(p.startswith("disability") for p in wanted) else [])
            return Outcome(None, unknown=[f"{role}.{p}" for p in paths])
        out = node.evaluate(parent, inner_ctx)
        who = ctx.describe.role(role)
        if out.value is True:
            out.reasons = [who + "、".join(r for r in out.reasons if r)]
        elif out.value is False:
            out.failed = [Failure(who + f.actual if f.actual else "", f.why_not) for f in out.failed]
        return out

    def evaluate(self, root: dict, ctx: Context) -> Outcome:
        f_one = lambda role: self._on(self.one, role, root, ctx)  # noqa: E731
        if self.mode == "both":
            combined = combine_all([f_one("father"), f_one("mother")])
        elif self.mode == "either":
            combined = combine_any([f_one("father"), f_one("mother")])
        else:  # one_and_other
            assert self.other is not None
            pairs = []
            for first, second in (("father", "mother"), ("mother", "father")):
                pairs.append(
                    combine_all([f_one(first), self._on(self.other, second, root, ctx)])
                )
            combined = combine_any(pairs)
        return self._fail(combined, ctx)


def combine_all(outs: list[Outcome]) -> Outcome:
    if any(o.value is False for o in outs):
        partial = sum(o.partial if o.value is False else max(1, len(o.reasons)) if o.value else 0
                      for o in outs)
        open_parts = sum(1 if o.value is None else o.open_parts if o.value is False else 0
                         for o in outs)
        return Outcome(False, failed=[f for o in outs if o.value is False for f in o.failed],
                       partial=partial, open_parts=open_parts)
    if all(o.value is True for o in outs):
        return Outcome(True, reasons=[r for o in outs for r in o.reasons])
    return Outcome(None, unknown=[u for o in outs if o.value is None for u in o.unknown],
                   assumed=[a for o in outs if o.value is None for a in o.assumed])


def combine_any(outs: list[Outcome]) -> Outcome:
    for o in outs:
        if o.value is True:
            return o
    if all(o.value is False for o in outs):
        closest = _closest(outs)
        return Outcome(False, failed=list(closest.failed), partial=closest.partial,
                       open_parts=closest.open_parts)
    return Outcome(None, unknown=[u for o in outs if o.value is None for u in o.unknown],
                   assumed=[a for o in outs if o.value is None for a in o.assumed])


_SHAPE_KEYS = {"all", "any", "not", "ref", "fact", "parents", "situation"}


def compile_condition(raw: Any, where: str, parent_scope: bool = False) -> Node:
    """Compile a condition from pack data; errors name `where`.

    Any condition may carry `stated: "<words of the text>"` (the text states it: checked by
    `kb check`) or `assumed: "<reason>"` (the text does not: see Assumed)."""
    if not isinstance(raw, dict):
        raise ConditionError(f"{where}: a condition must be a mapping, got {raw!r}")
    stated, assumed = raw.get("stated"), raw.get("assumed")
    for key, value in (("stated", stated), ("assumed", assumed)):
        if value is not None and (not isinstance(value, str) or len(value.strip()) < 4):
            raise ConditionError(f"{where}.{key}: must be text (at least 4 characters)")
    if stated and assumed:
        raise ConditionError(f"{where}: a condition is either stated or assumed, not both")
    node = _compile(
        {k: v for k, v in raw.items() if k not in ("stated", "assumed")}, where, parent_scope)
    if stated:
        node.stated = stated
    if assumed:
        if node.why_not:
            raise ConditionError(f"{where}: an assumed condition makes no near miss: drop why_not")
        return Assumed(node, assumed)
    return node


def _compile(raw: dict, where: str, parent_scope: bool) -> Node:
    if not isinstance(raw, dict):
        raise ConditionError(f"{where}: a condition must be a mapping, got {raw!r}")
    why_not = raw.get("why_not")
    if why_not is not None and not isinstance(why_not, str):
        raise ConditionError(f"{where}.why_not: must be text")
    shape = _SHAPE_KEYS & raw.keys()
    if len(shape) != 1:
        raise ConditionError(f"{where}: needs exactly one of {sorted(_SHAPE_KEYS)}, got {sorted(raw)}")
    (kind,) = shape

    def allowed(*keys: str) -> None:
        extra = set(raw) - {kind, "why_not", *keys}
        if extra:
            raise ConditionError(f"{where}: unknown key(s) {sorted(extra)}")

    if kind in ("all", "any"):
        allowed()
        parts = raw[kind]
        if not isinstance(parts, list) or not parts:
            raise ConditionError(f"{where}.{kind}: must be a non-empty list")
        nodes = [compile_condition(p, f"{where}.{kind}[{i}]", parent_scope)
                 for i, p in enumerate(parts)]
        return All(nodes, why_not) if kind == "all" else AnyOf(nodes, why_not)
    if kind == "not":
        allowed()
        return Not(compile_condition(raw["not"], f"{where}.not", parent_scope), why_not)
    if kind == "ref":
        allowed()
        if not isinstance(raw["ref"], str):
            raise ConditionError(f"{where}.ref: must be a name")
        return Ref(raw["ref"], why_not, parent_scope)
    if kind == "situation":
        allowed()
        if not parent_scope:
            raise ConditionError(f"{where}: 'situation' only inside a parents condition")
        values = raw["situation"]
        from screening.facts import SITUATIONS

        if not isinstance(values, list) or not values or set(values) - set(SITUATIONS):
            raise ConditionError(f"{where}.situation: must list situations from facts.md, got {values!r}")
        return Fact("situations", "has_any", values, why_not)
    if kind == "parents":
        mode = raw["parents"]
        if mode in ("both", "either"):
            allowed("match")
            if "match" not in raw:
                raise ConditionError(f"{where}: parents: {mode} needs 'match'")
            return Parents(mode, compile_condition(raw["match"], f"{where}.match", True), None, why_not)
        if mode == "one_and_other":
            allowed("one", "other")
            if "one" not in raw or "other" not in raw:
                raise ConditionError(f"{where}: parents: one_and_other needs 'one' and 'other'")
            return Parents(
                mode,
                compile_condition(raw["one"], f"{where}.one", True),
                compile_condition(raw["other"], f"{where}.other", True),
                why_not,
            )
        raise ConditionError(f"{where}.parents: must be both, either or one_and_other, got {mode!r}")
    # fact
    ops = set(raw) & set(_OPS)
    allowed(*_OPS)
    if len(ops) != 1:
        raise ConditionError(f"{where}: a fact condition needs exactly one of {sorted(_OPS)}")
    (op,) = ops
    path = raw["fact"]
    known = PARENT_PATHS if parent_scope else FACT_PATHS
    if path not in known:
        scope = "a parent's facts" if parent_scope else "facts.md"
        raise ConditionError(f"{where}.fact: unknown fact {path!r} (not in {scope})")
    arg = raw[op]
    if op in ("ge", "gt", "le", "lt") and not isinstance(arg, (int, float)):
        raise ConditionError(f"{where}.{op}: must be a number")
    if op in ("in", "has_any") and not isinstance(arg, list):
        raise ConditionError(f"{where}.{op}: must be a list")
    return Fact(path, op, arg, why_not)


def walk(node: Node, follow_refs: bool = False):
    yield node
    for child in getattr(node, "parts", []) or []:
        yield from walk(child, follow_refs)
    for attr in ("part", "one", "other"):  # Not, Assumed; Parents
        child = getattr(node, attr, None)
        if isinstance(child, Node):
            yield from walk(child, follow_refs)
    if follow_refs and isinstance(node, Ref) and node.target is not None:
        yield from walk(node.target, follow_refs)
