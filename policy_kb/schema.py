"""The shape of a policy pack (policy_kb/packs/*.yaml), validated on load.

A pack encodes one policy document: the places it governs, its categories with their
conditions over the household facts (../shared/spec/facts.md), the entitlements, the
documents to bring, the procedure, and the parameters its formulas need.  Every category,
entitlement, document and procedure step carries a `source`: the clause and a quote that
stands verbatim in the document (checked by `python bot.py kb check`).

Conditions are plain data (see policy_kb/conditions.py for their meaning):

    {all: [C, ...]}  {any: [C, ...]}  {not: C}  {ref: NAME}  {ref: "national:NAME"}
    {fact: child.age, le: 17}            ops: is, in, ge, gt, le, lt, has_any
    {parents: both, match: P}            P is a condition on one parent's object
    {parents: either, match: P}
    {parents: one_and_other, one: P, other: P}
    {situation: [deceased, missing_declared]}   (inside P: the parent has one of these)

Any condition may carry `why_not`: the plain sentence the family reads when that condition
alone keeps a category out of reach (a near miss), e.g. "剩余在押期须在1年及以上".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENTITLEMENT_KINDS = ("基本生活", "医疗", "教育", "康复", "住房就业", "监护", "心理关爱", "安全保护")
STACKING_RULES = ("不重复享受", "可以重复享受", "择高", "补差", "择一", "以当地核定为准")
GRADES = ("T", "P", "U")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where a rule comes from. `document` defaults to the pack's own number."""

    clause: str
    quote: str = Field(min_length=4)
    document: str | None = None
    grade: Literal["T", "P", "U"] | None = None


class Place(Strict):
    name: str  # full name: 浙江省台州市温岭市
    short: str  # what a person calls it: 温岭
    aliases: list[str] = []
    pinyin: list[str] = []  # overrides for polyphones, e.g. "chong qing"
    parent: str | None = None  # full name of the enclosing place, when it has a pack
    includes: list[str] = []  # sub-places it covers: 通化县, 渝中区 …


class Parameter(Strict):
    """A local figure a formula depends on but the text does not state."""

    label: str
    unit: str
    value: float | None = None  # unset by default: never invent a number
    year: int | None = None
    value_source: str | None = None
    source: Source

    @model_validator(mode="after")
    def _value_needs_year_and_source(self) -> "Parameter":
        if self.value is not None and (self.year is None or not self.value_source):
            raise ValueError("a parameter's value needs its year and value_source")
        return self


class Standard(Strict):
    """A derived amount: factor × (parameter or another standard), per year."""

    label: str
    of: str
    factor: float
    source: Source


class Amount(Strict):
    text: str  # the rule in words, as the document puts it
    of: str | None = None  # a standard or parameter id
    factor: float | None = None
    floor_per_month: float | None = None
    fixed_per_month: float | None = None


class Category(Strict):
    id: str
    name: str
    topic: str  # categories of one topic in several packs of a place: the local, newer one speaks
    summary: str  # one plain sentence: who this is for
    when: dict[str, Any]
    base: bool = True  # also require the pack's base condition (户籍, age)
    source: Source
    definition_source: Source | None = None  # where the local text names but does not define it


class Stacking(Strict):
    rule: Literal["不重复享受", "可以重复享受", "择高", "补差", "择一", "以当地核定为准"]
    text: str
    # entitlement ids of this pack, or "pack:id" of another pack of the place (a local rule that
    # governs a national item: 温岭's 不重复享受 covers national 特困供养); may be empty
    members: list[str] = []
    anchor: str | None = None  # shown only when this member applies (补差 is about 事实无人抚养)
    source: Source


class Entitlement(Strict):
    id: str
    name: str
    kind: Literal["基本生活", "医疗", "教育", "康复", "住房就业", "监护", "心理关爱", "安全保护"]
    topic: str  # same topic in a newer pack of the same place supersedes this one
    detail: str
    amount: Amount | None = None
    department: str
    for_categories: list[str] = []  # any of these categories holds (ids, may be "national:id")
    when: dict[str, Any] | None = None  # a routing sentence: attaches to facts
    adult: bool = False  # an item for "成年后": reachable at 18 and over (kb check); a child sees
    #                      it with from_age 18 in the result, as help for later
    source: Source

    @model_validator(mode="after")
    def _attached(self) -> "Entitlement":
        if not self.for_categories and self.when is None:
            raise ValueError("an entitlement needs for_categories or when")
        return self


class Document(Strict):
    id: str
    name: str
    detail: str
    why: str
    when: dict[str, Any] | None = None  # None: always, once anything applies
    for_categories: list[str] = []
    grade: Literal["T", "P", "U"]
    source: Source


class Step(Strict):
    text: str
    working_days: int | None = None
    grade: Literal["T", "P", "U"]
    source: Source


class Procedure(Strict):
    id: str
    name: str
    office: str
    for_categories: list[str] = []  # empty (and no for_entitlements): the general procedure
    for_entitlements: list[str] = []  # shown when one of these entitlements applies (特困, 两项补贴)
    steps: list[Step]
    notes: list[str] = []


class Hotline(Strict):
    number: str
    name: str
    source: Source


class Pack(Strict):
    id: str
    title: str
    document: str
    issuer: str
    date: dt.date
    level: Literal["national", "province", "city", "county"]
    source_file: str  # relative to ../shared: policy_sources/x.txt or spec/national-baseline.md
    notes: list[str] = []
    places: list[Place] = []
    base: dict[str, Any] | None = None  # ANDed into every category with base: true
    definitions: dict[str, dict[str, Any]] = {}
    parent_definitions: dict[str, dict[str, Any]] = {}  # conditions on one parent's object
    parameters: dict[str, Parameter] = {}
    standards: dict[str, Standard] = {}
    categories: list[Category] = []
    entitlements: list[Entitlement] = []
    stacking: list[Stacking] = []
    documents: list[Document] = []
    procedures: list[Procedure] = []
    hotlines: list[Hotline] = []
    urgent_when: dict[str, Any] | None = None

    @field_validator("categories", "entitlements", "documents", "procedures")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r}")
            seen.add(item.id)
        return items

    @model_validator(mode="after")
    def _references(self) -> "Pack":
        local_categories = {c.id for c in self.categories}
        local_entitlements = {e.id for e in self.entitlements}
        for ent in self.entitlements:
            for cid in ent.for_categories:
                if ":" not in cid and cid not in local_categories:
                    raise ValueError(f"entitlement {ent.id}: unknown category {cid!r}")
        for doc in self.documents:
            for cid in doc.for_categories:
                if ":" not in cid and cid not in local_categories:
                    raise ValueError(f"document {doc.id}: unknown category {cid!r}")
        for proc in self.procedures:
            for cid in proc.for_categories:
                if ":" not in cid and cid not in local_categories:
                    raise ValueError(f"procedure {proc.id}: unknown category {cid!r}")
        for proc in self.procedures:
            for eid in proc.for_entitlements:
                if eid not in local_entitlements:
                    raise ValueError(f"procedure {proc.id}: unknown entitlement {eid!r}")
        for group in self.stacking:
            for eid in group.members:
                if ":" not in eid and eid not in local_entitlements:
                    raise ValueError(f"stacking {group.rule}: unknown entitlement {eid!r}")
            if group.anchor is not None and group.anchor not in group.members:
                raise ValueError(f"stacking {group.rule}: anchor {group.anchor!r} is not a member")
        names = set(self.parameters) | set(self.standards)
        for sid, std in self.standards.items():
            if std.of not in names:
                raise ValueError(f"standard {sid}: unknown parameter or standard {std.of!r}")
        for ent in self.entitlements:
            if ent.amount and ent.amount.of and ent.amount.of not in names:
                raise ValueError(f"entitlement {ent.id}: unknown amount base {ent.amount.of!r}")
        return self
