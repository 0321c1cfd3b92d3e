"""The result as a family sees it: a short first message and the pages behind its buttons.

`screen` (screening/engine.py) gives everything the packs say about a child; a grandmother needs
little of it at once.  This module picks, from that result and the facts:

- the yes and maybe categories, one plain line each;
- the three entitlements that matter most for this child *now* (see `relevance`), with amounts,
  and those that apply later (成年后) apart;
- the one next step: where to go and what to bring first;
- what else is there, behind buttons: all entitlements (and assumptions, time notes, notes), the
  documents checklist, the steps for the routes this family takes, and 依据 for every item.

It builds plain data for the templates (templates/text/result*.txt.j2) and the buttons; every
word stays in the templates and templates/labels.yaml.  The first message is kept within
FIRST_MESSAGE_LINES lines (tests/test_result_view.py checks every persona and every case).

Only true promises: a pre-application is offered only where a local pack names the office that
reads it (`can_file`); where no local pack covers the place, the answer rests on the national rules
and says whom to call.
"""

from __future__ import annotations

import re
from typing import Any

from conversation.model import Button, Reply, rows
from policy_kb.loader import NATIONAL, load_kb
from policy_kb.places import place_index
from templates import label

FIRST_MESSAGE_LINES = 15
TOP_ENTITLEMENTS = 3
MAX_MAYBE_LINES = 2
PAGES = ("all", "steps", "sources")

# The order of kinds for a child now: money for living first, then health, school, rehabilitation …
KIND_ORDER = {"基本生活": 0, "医疗": 1, "教育": 2, "康复": 3, "监护": 4, "安全保护": 5, "心理关爱": 6,
              "住房就业": 7}
# Notes written for the people who keep the packs, never for a family (pack `notes:` should not
# hold them; this is the guard where one slips in).
EDITOR_NOTE = re.compile(r"印刷受损|文号|成文日期|按.{0,20}记录|原件.{0,6}(显示|印刷)")
LATER_WORDS = ("成年后",)


# ---------------------------------------------------------------- small helpers

def _get(facts: dict[str, Any] | None, path: str) -> Any:
    node: Any = facts or {}
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _plain(text: str) -> str:
    """A name without its parenthetical remarks: 银行账户（存折或银行卡） → 银行账户."""
    short = re.sub(r"（[^（）]*）", "", text or "").strip("：:，, ")
    return short or text


def first_clause(text: str) -> str:
    """The first sentence part, without remarks in brackets: for one short line."""
    text = re.sub(r"（[^（）]*）", "", text or "")
    return re.split(r"[；;。]", text)[0].strip()


def texts(items: list[Any] | None) -> list[str]:
    """Notes given as strings or as {"text": …} objects (assumptions, time notes), deduplicated."""
    out = [(i.get("text") if isinstance(i, dict) else i) for i in items or []]
    return list(dict.fromkeys(t for t in out if t))


def family_notes(notes: list[str]) -> list[str]:
    """The notes a family may read: layering remarks and editors' notes are left out."""
    return [n for n in notes if not EDITOR_NOTE.search(n) and "同属一类" not in n and "已由" not in n]


def place_short(result: dict[str, Any]) -> str | None:
    matched = (result.get("region") or {}).get("matched")
    if not matched:
        return None
    node = place_index(load_kb()).nodes.get(matched)
    return node.short if node else matched


def has_local_pack(result: dict[str, Any]) -> bool:
    region = result.get("region") or {}
    return bool(region.get("matched")) and any(p != NATIONAL for p in region.get("packs", []))


def can_file(result: dict[str, Any] | None) -> bool:
    """A pre-application is offered only where a local pack covers the place (an office there reads
    them) and the result gives something to apply for or to check."""
    if not result or not has_local_pack(result):
        return False
    return True


# ---------------------------------------------------------------- entitlements: now and later

def is_later(ent: dict[str, Any], age: int | None) -> bool:
    """An item for later in life (成年后) while the child is still a child."""
    start = ent.get("from_age")
    if isinstance(start, int):
        return age is None or age < start
    if any(w in ent.get("name", "") for w in LATER_WORDS):
        return age is None or age < 18
    return False


def relevance(ent: dict[str, Any], facts: dict[str, Any] | None, urgent: bool) -> float:
    """Lower is more relevant for this child now."""
    kind = ent.get("kind", "")
    score = float(KIND_ORDER.get(kind, 8))
    age = _get(facts, "child.age")
    disabled = bool(_get(facts, "child.disability")) or _get(facts, "child.autism") is True
    if kind == "安全保护" and urgent:
        score = -1
    if kind == "监护" and urgent:
        score = -0.5
    if kind == "康复" and disabled:
        score = 0.8 if age is None or age <= 6 else 1.5
    if kind == "教育" and age is not None and age < 3:
        score = 6.5
    amount = ent.get("amount") or {}
    if amount.get("per_month") is not None:
        score -= 0.4
    elif amount:
        score -= 0.2
    if not ent.get("for"):
        score += 0.3  # reached by a routing sentence, not by a category the child is in
    return score


def ordered_entitlements(result: dict[str, Any], facts: dict[str, Any] | None,
                         urgent: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    age = _get(facts, "child.age")
    now, later = [], []
    for e in result.get("entitlements", []):
        (later if is_later(e, age) else now).append(e)
    now.sort(key=lambda e: relevance(e, facts, urgent))
    return now, later


def amount_short(amount: dict[str, Any] | None) -> dict[str, Any] | None:
    if not amount:
        return None
    if amount.get("per_month") is not None:
        return {"per_month": amount["per_month"], "text": None}
    return {"per_month": None, "text": amount.get("text")}


# ---------------------------------------------------------------- the next step

def _topics_of(result: dict[str, Any]) -> dict[str, str]:
    """category id (pack:id) → its topic, for every pack the place uses."""
    kb = load_kb()
    out = {}
    for pid in (result.get("region") or {}).get("packs", []):
        loaded = kb.packs.get(pid)
        if loaded:
            for c in loaded.pack.categories:
                out[f"{pid}:{c.id}"] = c.topic
    return out


def _topics_in(result: dict[str, Any], key: str, topics: dict[str, str]) -> set[str]:
    """The topics of the result's `key` list of categories ("categories", "possible_categories")."""
    return {topics.get(c["id"]) for c in result.get(key, [])} - {None}


def _pack_item(ref: str, kind: str) -> tuple[str, Any]:
    """pack id and the pack's item of `kind` ("procedures", "documents") named by "pack:id" (None if gone)."""
    pid, _, item_id = ref.partition(":")
    loaded = load_kb().packs.get(pid)
    return pid, next((x for x in getattr(loaded.pack, kind) if x.id == item_id), None) if loaded else None


def _for_topics(pid: str, spec: Any, topics: dict[str, str]) -> set[str]:
    """The topics of the categories an item (procedure, document) is for."""
    return {topics.get(c if ":" in c else f"{pid}:{c}") for c in spec.for_categories} if spec else set()


def routes(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The procedures of the routes this family takes: those of a category the child is in (matched
    by topic, so a national procedure serves the local category that replaced its own), else the
    general one."""
    topics = _topics_of(result)
    yes_topics = _topics_in(result, "categories", topics)
    maybe_topics = _topics_in(result, "possible_categories", topics)
    specific, general, maybe = [], [], []
    for proc in result.get("procedure", []):
        pid, spec = _pack_item(proc["id"], "procedures")
        if spec is None or not spec.for_categories:
            general.append(proc)
            continue
        proc_topics = _for_topics(pid, spec, topics)
        if proc_topics & yes_topics:
            specific.append(proc)
        elif proc_topics & maybe_topics:
            maybe.append(proc)
    if specific:
        return specific
    return general or maybe[:1]


def _office(text: str | None) -> str | None:
    if not text:
        return None
    return text.split("；")[0].strip()


def first_documents(result: dict[str, Any], limit: int = 3) -> list[str]:
    """What to bring first: the papers that prove this child's situation, then the 户口簿.
    Forms the office hands out are left for the office."""
    topics = _topics_of(result)
    yes_topics = _topics_in(result, "categories", topics)
    proving, specific, common = [], [], []
    for d in result.get("documents", []):
        pid, spec = _pack_item(d["id"], "documents")
        name = _plain(d["name"])
        if "申请表" in name or "照片" in name:
            continue
        if _for_topics(pid, spec, topics) & yes_topics:
            proving.append(name)
        elif spec is not None and (spec.when is not None or spec.for_categories):
            specific.append(name)
        elif "户口" in name and "孩子" in name:
            common.insert(0, name)
        else:
            common.append(name)
    return list(dict.fromkeys(proving + specific + common))[:limit]


# ---------------------------------------------------------------- the view

# Reasons every family in a category shares (the age, the 户籍): they say nothing to the family.
SHARED_REASON = re.compile(r"^孩子(\d+岁|\d+个月大?|未满\d+周岁|是本地户籍|户籍在本地)$")


NOT_REASON = re.compile(r"^(家庭|家里|孩子)?(不是|未被|没有被)")  # what the family is not: no reason to give


def plain_why(why: str) -> str:
    parts = [p for p in re.split(r"[，,]", why or "") if p.strip()]
    kept = [p for p in parts if not SHARED_REASON.match(p.strip()) and not NOT_REASON.match(p.strip())]
    return "，".join(kept or parts)


def _category_lines(result: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    yes = [{"name": c["name"], "why": plain_why(c.get("why") or c.get("summary", ""))}
           for c in result.get("categories", [])]
    maybe_all = [{"name": c["name"], "need": [m for m in c.get("missing", [])][:2],
                  "more": max(0, len(c.get("missing", [])) - 2),
                  "assumed": first_clause((texts(c.get("assumptions")) or [""])[0])}
                 for c in result.get("possible_categories", [])]
    return yes, maybe_all, len(maybe_all)


def _notes_for(items: list[Any] | None, shown: set[str]) -> list[str]:
    """The notes the first message may show: those of a category it says yes to, or of none in
    particular; a note about a category that is only possible stays behind "全部帮助"."""
    return texts([i for i in items or [] if not isinstance(i, dict) or not i.get("categories")
                  or set(i["categories"]) & shown])


def lives_away(facts: dict[str, Any] | None) -> bool:
    """The 户口 is elsewhere and the place given is where the child lives: the office there reads the
    pre-application, and "go to where the 户口 is" could send the family on a long trip."""
    return (facts or {}).get("child", {}).get("hukou_local") is False


def view(result: dict[str, Any], facts: dict[str, Any] | None = None, *, urgent: bool = False) -> dict[str, Any]:
    """Everything the first message shows, within FIRST_MESSAGE_LINES lines."""
    urgent = bool(urgent or result.get("urgent"))
    local = has_local_pack(result)
    yes, maybe_all, _ = _category_lines(result)
    now, later = ordered_entitlements(result, facts, urgent)
    route = routes(result)
    office = _office(route[0]["office"]) if route else None
    yes_names = {c["name"] for c in yes[:3]}
    time_notes = _notes_for(result.get("time_notes"), yes_names)
    assumptions = _notes_for(result.get("assumptions"), yes_names)

    # the line budget: fixed parts first, then categories, then entitlements
    budget = FIRST_MESSAGE_LINES
    budget -= 2 if urgent else 0          # what to do now (110), and who knows of it
    budget -= 1                           # the place line
    budget -= 2                           # the next step: where, what to bring
    budget -= 1                           # the buttons line
    budget -= 1 if later else 0
    budget -= 1 if (time_notes or assumptions) else 0
    near = result.get("near_misses", [])[:1] if not (yes or maybe_all) else []
    if not (yes or maybe_all):
        budget -= 2 + (1 if local else 0)  # no category; the nearest miss; file anyway (whom to call: next step)
    yes_shown = yes[:3]
    budget -= len(yes_shown) + (1 if len(yes) > 3 else 0)
    ent_n = min(TOP_ENTITLEMENTS, len(now))
    budget -= (ent_n + 1) if ent_n else 0  # + its heading
    if len(maybe_all) <= min(MAX_MAYBE_LINES, budget):
        maybe_n = len(maybe_all)
    else:  # the rest in one line: "还有N类…"
        maybe_n = max(0, min(MAX_MAYBE_LINES, budget) - 1)
    maybe_more = len(maybe_all) - maybe_n
    return {
        "place": place_short(result),
        "local": local,
        "policies": (result.get("region") or {}).get("policies", []),
        "urgent": urgent,
        "yes": yes_shown,
        "yes_more": len(yes) - len(yes_shown),
        "maybe": maybe_all[:maybe_n],
        "maybe_more": maybe_more,
        "now": [{"name": e["name"], "amount": amount_short(e.get("amount"))} for e in now[:ent_n]],
        "now_more": len(now) - ent_n,
        "later": [e["name"] for e in later],
        "office": office,
        "away": lives_away(facts),
        "bring": first_documents(result),
        "near": [{"name": n["name"], "reason": first_clause(n["reason"]),
                  "would_change": first_clause(n["would_change"])} for n in near],
        "notice": (time_notes or assumptions or [None])[0],
        "can_file": can_file(result),
        "hotline": "12345",
    }


def page(kind: str, result: dict[str, Any], facts: dict[str, Any] | None = None, *,
         urgent: bool = False) -> dict[str, Any]:
    """The context of the pages behind the buttons."""
    urgent = bool(urgent or result.get("urgent"))
    now, later = ordered_entitlements(result, facts, urgent)
    if kind == "all":
        return {"place": place_short(result), "now": now, "later": later,
                "maybe": result.get("possible_categories", []),
                "near": result.get("near_misses", []),
                "stacking": result.get("stacking", []),
                "assumptions": texts(result.get("assumptions")),
                "time_notes": texts(result.get("time_notes")),
                "notes": family_notes(result.get("notes", []))}
    if kind == "steps":
        return {"routes": routes(result), "local": has_local_pack(result), "away": lives_away(facts)}
    if kind == "sources":
        return {"categories": result.get("categories", []), "entitlements": now + later,
                "possible": result.get("possible_categories", [])}
    raise ValueError(kind)


# ---------------------------------------------------------------- replies and buttons

def buttons(result: dict[str, Any]) -> list[list[Button]]:
    """The first message's buttons; every button a message names is here."""
    first = []
    if result.get("entitlements") or result.get("possible_categories") or result.get("near_misses"):
        first.append(Button(label("all_help"), "more:all"))
    if result.get("documents"):
        first.append(Button(label("documents"), "docs"))
    second = []
    if routes(result):
        second.append(Button(label("steps"), "more:steps"))
    if result.get("categories") or result.get("entitlements") or result.get("possible_categories"):
        second.append(Button(label("sources"), "more:sources"))
    out = [r for r in (first, second) if r]
    if can_file(result):
        out.append([Button(label("file"), "file")])
    out.append([Button(label("change_answers"), "summary"), Button(label("restart"), "restart")])
    return out


def button_names(reply_buttons: list[list[Button]]) -> set[str]:
    return {b.action for row in reply_buttons for b in row}


def result_reply(state: dict[str, Any], result: dict[str, Any], facts: dict[str, Any] | None = None) -> Reply:
    v = view(result, facts, urgent=bool(state.get("urgent")))
    b = buttons(result)
    actions = button_names(b)
    v["has"] = {"all": "more:all" in actions, "docs": "docs" in actions, "steps": "more:steps" in actions,
                "sources": "more:sources" in actions, "file": "file" in actions}
    return Reply("result", {"v": v}, b)


def page_reply(kind: str, state: dict[str, Any], result: dict[str, Any], facts: dict[str, Any] | None = None) -> Reply:
    # the first message's buttons but this page's own, and a way back instead of change/restart
    others = [[b for b in row if b.action != f"more:{kind}"] for row in buttons(result)[:-1]]
    nav = [[Button(label("back_to_result"), "result")]] + [row for row in others if row]
    return Reply(f"result_{kind}", page(kind, result, facts, urgent=bool(state.get("urgent"))), nav)
