"""童助 — entry point.

    python bot.py                      the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the console chat
    python bot.py screen FACTS.json    screen one family (--json for the facts.md result object)
    python bot.py kb check             validate every policy pack
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load_json(path: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SystemExit(f"读不到文件 {path}：{exc.strerror}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} 不是有效的 JSON（第{exc.lineno}行第{exc.colno}列）：{exc.msg}")


def cmd_screen(args: argparse.Namespace) -> int:
    from screening.engine import screen
    from screening.facts import FactsError
    from templates import render_text

    data = _load_json(args.facts)
    try:
        result = screen(data)
    except FactsError as exc:
        for key, message in exc.problems:
            print(f"输入有误 {key}: {message}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        sys.stdout.write(render_text("text/screen.txt.j2", r=result))
    return 0


def cmd_kb_check(args: argparse.Namespace) -> int:
    from policy_kb.check import check, shared_dir

    shared = Path(args.shared) if args.shared else shared_dir()
    problems = check(Path(args.packs), shared) if args.packs else check(shared=shared)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"kb check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    from policy_kb.loader import load_kb_uncached, PACKS_DIR

    kb = load_kb_uncached(Path(args.packs) if args.packs else PACKS_DIR)
    n_cat = sum(len(p.pack.categories) for p in kb.packs.values())
    n_ent = sum(len(p.pack.entitlements) for p in kb.packs.values())
    quotes = "quotes checked against " + str(shared) if shared else "source texts not found: quotes not checked"
    print(f"kb check: ok — {len(kb.packs)} packs, {n_cat} categories, {n_ent} entitlements; {quotes}; "
          f"version {kb.version}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import os

    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        from handlers.telegram_app import run_polling

        return run_polling()
    from handlers.console import run_console

    return run_console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot.py", description="童助：困境儿童保障政策助手")
    sub = parser.add_subparsers(dest="command")

    p_screen = sub.add_parser("screen", help="screen one family from a facts JSON file")
    p_screen.add_argument("facts", help="facts JSON file (../shared/spec/facts.md), or - for stdin")
    p_screen.add_argument("--json", action="store_true", help="print the result object")
    p_screen.set_defaults(func=cmd_screen)

    p_kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = p_kb.add_subparsers(dest="kb_command", required=True)
    p_check = kb_sub.add_parser("check", help="validate every policy pack")
    p_check.add_argument("--packs", help="folder of packs (default policy_kb/packs)")
    p_check.add_argument("--shared", help="the shared folder holding policy_sources/")
    p_check.set_defaults(func=cmd_kb_check)

    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_run(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
