"""`bot.py simulate`: run the real questionnaire, answering each question from a facts file.

Each question is answered as a family that knows exactly these facts would: the choice whose facts
all hold (the most specific one), "不确定" where the facts say nothing.  The result is the screen of
the facts the conversation gathered, which must equal the screen of the facts given.
"""

from __future__ import annotations

from typing import Any

from conversation import questionnaire as qn
from conversation.engine import facts_of, result_of, step
from conversation.model import Input, Who

WHO = Who(user_key="simulate")
MAX_STEPS = 80


def _choice_for(q: dict[str, Any], facts: dict[str, Any], told: dict[str, Any] | None = None) -> str:
    """The most specific choice these facts make true; at a gate whose facts are partly known,
    "一项一项问我"; else "不确定". A `rest_of` question is answered for the facts not yet `told`."""
    prefix = q["sets"][0].split(".")[0] + "." if q["id"] in ("father", "mother") else ""
    left = (lambda p: qn.get_fact(told or {}, p, _MISSING) is _MISSING) if q.get("rest_of") else (lambda p: True)
    best, best_size = None, -1
    known = [p for p in q["sets"] if left(p) and qn.get_fact(facts, p, _MISSING) is not _MISSING]
    for i, choice in enumerate(q["choices"]):
        items = {prefix + p: v for p, v in choice["set"].items() if left(prefix + p)}
        present = choice.get("means_present", [])
        if not items and not present:
            continue
        if choice["label"] in qn.closing(q["id"]) and not all(p in items for p in known):
            continue  # a family that knows more than this choice says would not end the asking with it
        holds = all(qn.get_fact(facts, p, object()) == v for p, v in items.items()) and all(
            qn.get_fact(facts, p) is not None for p in present)
        if holds and len(items) + len(present) > best_size:
            best, best_size = i, len(items) + len(present)
    if best is None:
        each = next((i for i, c in enumerate(q["choices"]) if c.get("ask_each") and not c["set"]), None)
        known = any(qn.get_fact(facts, path, _MISSING) is not _MISSING for path in q["sets"] if left(path))
        best = each if each is not None and known else None
    return f"c:{q['id']}:{best}" if best is not None else "不确定"


_MISSING = object()


def _typed_for(q: dict[str, Any], facts: dict[str, Any]) -> str:
    path = q["sets"][0]
    missing = object()
    value = qn.get_fact(facts, path, missing)
    if value is missing:
        return "不确定"
    if q["kind"] == "age":
        return f"{value}岁"
    if q["kind"] == "months":
        return "不确定" if value is None else f"{value}个月"
    if q["kind"] in ("disability", "disability_child"):
        if value is None:
            return "没有"
        no_certificate = q["kind"] == "disability_child" and value.get("certificate") is False
        return f"{value['grade']}级 {value['kind']}" + ("，还没办证" if no_certificate else "")
    raise ValueError(q["kind"])


def answer_for(state: dict[str, Any], facts: dict[str, Any]) -> Input | None:
    """What a family who knows `facts` answers at this point of the conversation (None: done)."""
    stage = state["stage"]
    if stage == "role":
        return Input.pressed("role:self")
    if stage == "summary":
        return Input.pressed("result")
    if stage != "questions":
        return None
    q = qn.BY_ID[state["current"]]
    if q["kind"] == "place":
        elsewhere = qn.get_fact(facts, "child.hukou_local") is False and "hukou" not in state["answers"]
        return Input.pressed("away") if elsewhere else Input.typed(facts["region"])
    if q["kind"] == "choice":
        answer = _choice_for(q, facts, qn.rebuild(dict(state, asked=list(state["asked"]))))
        return Input.pressed(answer) if answer.startswith("c:") else Input.typed(answer)
    return Input.typed(_typed_for(q, facts))


def simulate(facts: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    """The questionnaire answered from `facts`; with `trace`, also the questions asked in order and
    the progress line of each ((step, about how many steps))."""
    out = step(None, Input.typed("/start"), who=WHO)
    state, asked = out.state, 0
    order: list[str] = []
    progress: list[tuple[int, int]] = []
    for _ in range(MAX_STEPS):
        inp = answer_for(state, facts)
        if inp is None:
            break
        if state["stage"] == "questions":
            asked += 1
            order.append(state["current"])
            shown = next((r.context for r in reversed(out.replies) if r.template == "question"), None)
            if shown:
                progress.append((shown["step"], shown["total"]))
        out = step(state, inp, who=WHO)
        state = out.state
    gathered = facts_of(state)
    done = {"questions_asked": asked, "facts": gathered, "result": result_of(gathered)}
    if trace:
        done.update(asked=order, progress=progress)
    return done


def main(argv: list[str] | None = None) -> int:
    """`python -m conversation.simulate [PERSONAS.yaml or a folder of them …]`: the questions asked
    per family (by default ../shared/spec/personas.yaml and tests/families/), mean and max."""
    import sys
    from pathlib import Path

    import yaml

    from policy_kb.check import shared_dir

    args = argv if argv is not None else sys.argv[1:]
    shared = shared_dir()
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    families = Path(__file__).resolve().parent.parent / "tests" / "families"
    paths = [Path(a) for a in args] or [p for p in (shared / "spec" / "personas.yaml" if shared else None,
                                                    families if families.exists() else None) if p]
    files = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    if not files or not all(f.exists() for f in files):
        print("personas.yaml not found: give its path", file=sys.stderr)
        return 2
    counts, same = [], 0
    from screening.engine import screen

    for path in files:
        for persona in yaml.safe_load(path.read_text(encoding="utf-8")):
            out = simulate(persona["facts"], trace=True)
            n = out["questions_asked"]
            counts.append(n)
            same += out["result"] == screen(persona["facts"])
            line = f"{n:3d}  {persona['id']}"
            print(line + ("  " + " ".join(out["asked"]) if verbose else ""))
    print(f"mean {sum(counts) / len(counts):.1f}, max {max(counts)} questions over {len(counts)} families; "
          f"simulate == screen for {same} of {len(counts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
