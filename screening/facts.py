"""The household facts of ../shared/spec/facts.md: validated, with unknown kept apart from false.

`parse_facts(data)` checks every key and type and returns the facts as a plain dict holding only
what was given (a missing key is *unknown*; an explicit ``null`` on an object such as
``disability`` means "none").  Errors name the key: ``child.age: 必须在 0 到 30 之间``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

DISABILITY_KINDS = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
SITUATIONS = (
    "deceased",
    "missing_declared",
    "unreachable",
    "incarcerated",
    "drug_rehab",
    "restricted",
    "serious_illness",
    "guardianship_revoked",
    "deported",
    "unknown",
    "works_away",
    "no_capacity",
    "unable_to_support",
)
MAX_REGION_CHARS = 60
MAX_AGE = 30  # 18+ is accepted: some policies continue support while the young person studies


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ChildDisability(_Model):
    grade: StrictInt = Field(ge=1, le=4)
    kind: Literal["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
    certificate: StrictBool | None = None


class ParentDisability(_Model):
    grade: StrictInt = Field(ge=1, le=4)
    kind: Literal["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]


Situation = Literal[
    "deceased",
    "missing_declared",
    "unreachable",
    "incarcerated",
    "drug_rehab",
    "restricted",
    "serious_illness",
    "guardianship_revoked",
    "deported",
    "unknown",
    "works_away",
    "no_capacity",
    "unable_to_support",
]


class Parent(_Model):
    situations: list[Situation] | None = None
    remaining_months: StrictInt | None = Field(default=None, ge=0, le=1200)
    unreachable_months: StrictInt | None = Field(default=None, ge=0, le=1200)
    disability: ParentDisability | None = None


class Child(_Model):
    age: StrictInt | None = Field(default=None, ge=0, le=MAX_AGE)
    age_months: StrictInt | None = Field(default=None, ge=0, le=11)
    hukou_local: StrictBool | None = None
    rural: StrictBool | None = None
    disability: ChildDisability | None = None
    autism: StrictBool | None = None
    cerebral_palsy: StrictBool | None = None  # 脑瘫 (added by the project: 温岭 二（二）1, 綦江 三（二）)
    serious_illness: StrictBool | None = None
    hiv: Literal["none", "affected", "infected"] | None = None
    living: Literal["family", "relatives", "institution", "alone", "street"] | None = None
    school_stage: (
        Literal["none", "preschool", "primary", "junior", "senior", "vocational", "higher"] | None
    ) = None
    has_income: StrictBool | None = None


class Household(_Model):
    dibao: StrictBool | None = None
    dibao_edge: StrictBool | None = None
    low_income: StrictBool | None = None
    tekun: StrictBool | None = None
    poverty_monitoring: StrictBool | None = None
    hardship: StrictBool | None = None
    sudden_crisis: StrictBool | None = None


class Safety(_Model):
    abused: StrictBool | None = None
    abandoned: StrictBool | None = None
    neglected: StrictBool | None = None
    trafficking_rescued: StrictBool | None = None


class Facts(_Model):
    region: str = Field(min_length=1, max_length=MAX_REGION_CHARS)
    child: Child | None = None
    father: Parent | None = None
    mother: Parent | None = None
    household: Household | None = None
    safety: Safety | None = None
    migrant: StrictBool | None = None


class FactsError(ValueError):
    """Bad facts: `problems` is a list of (key, message), the key dotted like child.age."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in problems))


_MESSAGES = {
    "extra_forbidden": "不认识这个项目（请对照 facts.md 的写法）",
    "missing": "必须填写",
    "int_type": "应是整数",
    "bool_type": "应是 true 或 false",
    "string_type": "应是文字",
    "list_type": "应是列表",
    "literal_error": "不在可选值之内",
    "greater_than_equal": "太小了",
    "less_than_equal": "太大了",
    "string_too_long": f"太长了（最多 {MAX_REGION_CHARS} 个字）",
    "string_too_short": "不能为空",
    "model_type": "应是一个对象",
    "dict_type": "应是一个对象",
}


def _explain(err: dict[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    key = ".".join(loc) or "(facts)"
    msg = _MESSAGES.get(err["type"], err["msg"])
    if err["type"] in ("greater_than_equal", "less_than_equal"):
        ctx = err.get("ctx", {})
        msg = f"{msg}：可填的范围见 facts.md（{ctx}）"
    if err["type"] == "literal_error":
        msg = f"{msg}：{err.get('ctx', {}).get('expected', '')}"
    return key, msg


def parse_facts(data: Any) -> dict[str, Any]:
    """Validate `data` against the contract; return only the given facts, as a dict."""
    if not isinstance(data, dict):
        raise FactsError([("(facts)", "应是一个 JSON 对象")])
    try:
        model = Facts.model_validate(data)
    except ValidationError as exc:
        problems = [_explain(e) for e in exc.errors()]
        raise FactsError(problems) from None
    facts = model.model_dump(exclude_unset=True)
    if facts["region"].strip() == "":
        raise FactsError([("region", "不能为空")])
    return facts
