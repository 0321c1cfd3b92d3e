"""Evaluation of free-text answers and proposed facts on tests/freetext/*.yaml.

    python -m freetext.evaluate              prints {"questions", "top1", "top3", "not_sure_correct",
                                              "situations", "fact_precision", "fact_recall"}
    python -m freetext.evaluate --misses     also lists the questions and facts it got wrong
    python -m freetext.evaluate --calibrate  prints the best score of every question, to set
                                              freetext.matcher.THRESHOLD
    python -m freetext.evaluate --by-set     also prints the numbers per set: dev (tuned on),
                                              heldout (tuned on after a first measure), fresh (never)

top1 / top3: share of the on-topic questions whose first answer (any of the first three) is among
the expected ids; a "not sure" there counts as a miss. not_sure_correct: share of the off-topic
questions answered "not sure". Facts are compared as flattened leaf paths (father.remaining_months
= 36); a list of situations counts one item per situation (father.situations[] = deceased);
precision and recall are over all situations pooled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "tests" / "freetext" / "questions.yaml"
SITUATIONS = REPO / "tests" / "freetext" / "situations.yaml"


def flatten(facts: dict[str, Any], prefix: str = "") -> set[tuple[str, Any]]:
    out: set[tuple[str, Any]] = set()
    for key, value in facts.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, path + ".")
        elif isinstance(value, list):  # an empty list is a fact too ("situations: []": none of them)
            out |= {(path + "[]", v) for v in value} or {(path + "[]", None)}
        else:
            out.add((path, value))
    return out


def evaluate_questions(path: Path = QUESTIONS) -> dict[str, Any]:
    from freetext.matcher import rank, select_answers

    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    on_topic = [q for q in items if q["expect"] != "not_sure"]
    off_topic = [q for q in items if q["expect"] == "not_sure"]
    top1 = top3 = not_sure_ok = 0
    misses: list[dict[str, Any]] = []
    scores: list[tuple[float, str, bool]] = []
    for q in items:
        ranked, _ = rank(q["text"], region=q.get("region"))
        answers, not_sure = select_answers(ranked)
        result = {"answers": answers, "not_sure": not_sure}
        ids = [a["id"] for a in answers]
        best = ranked[0][0] if ranked else 0.0
        if q["expect"] == "not_sure":
            scores.append((best, q["text"], "OFF "))
            if result["not_sure"]:
                not_sure_ok += 1
            else:
                misses.append({"text": q["text"], "expect": "not_sure", "got": ids})
            continue
        expect = set(q["expect"])
        correct_rank = next((i for i, (s, e) in enumerate(ranked) if e.id in expect), None)
        scores.append((best, q["text"], "ok  " if correct_rank is not None and correct_rank < 3 else "miss"))
        if ids[:1] and ids[0] in expect:
            top1 += 1
        if expect & set(ids[:3]):
            top3 += 1
        else:
            misses.append({"text": q["text"], "region": q.get("region"), "expect": sorted(expect),
                           "got": [(round(s, 3), e.id) for s, e in ranked[:4]],
                           "not_sure": result["not_sure"]})
    n = len(on_topic)
    return {"questions": len(items), "top1": round(top1 / n, 3) if n else None,
            "top3": round(top3 / n, 3) if n else None,
            "not_sure_correct": round(not_sure_ok / len(off_topic), 3) if off_topic else None,
            "_misses": misses, "_scores": scores}


def evaluate_situations(path: Path = SITUATIONS) -> dict[str, Any]:
    from freetext.intake import propose_facts

    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    tp = proposed_n = expected_n = 0
    misses: list[dict[str, Any]] = []
    for item in items:
        got = flatten(propose_facts(item["text"]))
        want = flatten(item["expect_facts"])
        tp += len(got & want)
        proposed_n += len(got)
        expected_n += len(want)
        if got != want:
            misses.append({"text": item["text"], "wrong": sorted(map(str, got - want)),
                           "missed": sorted(map(str, want - got))})
    return {"situations": len(items),
            "fact_precision": round(tp / proposed_n, 3) if proposed_n else 1.0,
            "fact_recall": round(tp / expected_n, 3) if expected_n else 1.0,
            "_misses": misses}


def by_set() -> list[tuple[str, str, dict[str, Any]]]:
    import tempfile

    out = []
    for name, fn, path in (("questions", evaluate_questions, QUESTIONS), ("situations", evaluate_situations, SITUATIONS)):
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
        for set_name in ("dev", "heldout", "fresh"):
            subset = [i for i in items if i.get("set", "dev") == set_name]
            if not subset:
                continue
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8", delete=False) as tmp:
                yaml.safe_dump(subset, tmp, allow_unicode=True)
            try:
                result = fn(Path(tmp.name))
            finally:
                Path(tmp.name).unlink()
            out.append((name, set_name, {k: v for k, v in result.items() if not k.startswith("_")}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freetext.evaluate")
    parser.add_argument("--misses", action="store_true", help="list what was answered wrongly")
    parser.add_argument("--calibrate", action="store_true", help="print best scores for the threshold")
    parser.add_argument("--by-set", action="store_true", help="print the numbers per set (dev/heldout/fresh)")
    args = parser.parse_args(argv)
    q = evaluate_questions()
    s = evaluate_situations() if SITUATIONS.is_file() else {"situations": 0, "fact_precision": None,
                                                             "fact_recall": None, "_misses": []}
    summary = {"questions": q["questions"], "top1": q["top1"], "top3": q["top3"],
               "not_sure_correct": q["not_sure_correct"], "situations": s["situations"],
               "fact_precision": s["fact_precision"], "fact_recall": s["fact_recall"]}
    json.dump(summary, sys.stdout, ensure_ascii=False)
    print()
    if args.by_set:
        for name, set_name, numbers in by_set():
            print(json.dumps({"set": set_name, "of": name, **numbers}, ensure_ascii=False))
    if args.misses:
        for m in q["_misses"] + s["_misses"]:
            print(json.dumps(m, ensure_ascii=False), file=sys.stderr)
    if args.calibrate:
        for best, text, ok in sorted(q["_scores"]):
            print(f"{best:.3f} {ok} {text}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
