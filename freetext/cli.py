"""`python bot.py ask "问题" [--region 温岭] [--json]`: a free-text question answered from the knowledge base.

--json prints one object:
    {"answers": [{"title", "text", "source": {document, clause, quote}, "place"}],
     "not_sure": bool, "urgent": bool, "facts": {...}, "whom_to_ask": str, "danger": [...]}
`facts` holds the facts the question itself proposes (freetext/intake.py), not validated against
a region: the family confirms them first. `urgent` is true when a danger word stands in the text.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def ask(question: str, region: str | None = None) -> dict[str, Any]:
    from freetext.danger import detect_danger
    from freetext.intake import propose_facts
    from freetext.matcher import answer_question

    result = answer_question(question, region=region)
    danger = detect_danger(question)
    return {
        "answers": [{"title": a["title"], "text": a["text"], "source": a["source"], "place": a["place"]}
                    for a in result["answers"]],
        "not_sure": result["not_sure"],
        "urgent": bool(danger),
        "facts": propose_facts(question),
        "whom_to_ask": result["whom_to_ask"],
        "danger": danger,
    }


def _text(out: dict[str, Any]) -> str:
    lines: list[str] = []
    if out["urgent"]:
        lines += ["孩子有危险时，请马上打110报警。", ""]
    if out["not_sure"]:
        lines.append(f"这个问题我不确定，不敢乱说。请问：{out['whom_to_ask']}。")
    for i, a in enumerate(out["answers"], 1):
        src = a["source"]
        title = a["title"] if a["title"].startswith(a["place"]) else f"【{a['place']}】{a['title']}"
        lines += [f"{i}. {title}", f"   {a['text']}",
                  f"   来源：{src['document']} {src['clause']}：“{src['quote']}”"]
    if out["facts"]:
        lines += ["", "从您的话里看到的情况（请核对）：" + json.dumps(out["facts"], ensure_ascii=False)]
    return "\n".join(lines) + "\n"


def cmd_ask(args: argparse.Namespace) -> int:
    question = (args.question or "").strip()
    if not question:
        print("请写下要问的问题", file=sys.stderr)
        return 2
    out = ask(question, region=args.region)
    if args.region:
        from policy_kb.loader import load_kb
        from policy_kb.places import place_index

        out["place_unknown"] = place_index(load_kb()).resolve(args.region).node is None
        if out["place_unknown"] and not args.json:
            sys.stdout.write(f"不认识“{args.region}”这个地方，下面按国家政策回答。\n\n")
    if args.json:
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        sys.stdout.write(_text(out))
    return 0


def add_ask_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ask", help="answer a free-text question from the knowledge base")
    p.add_argument("question", help="the question, as a family would write it")
    p.add_argument("--region", help="the family's place, e.g. 温岭 (else a place named in the question)")
    p.add_argument("--json", action="store_true",
                   help='print {"answers", "not_sure", "urgent", "facts", ...}')
    p.set_defaults(func=cmd_ask)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freetext.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_ask_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
