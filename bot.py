"""童助 — entry point.

    python bot.py                      the Telegram bot (long polling) when TELEGRAM_BOT_TOKEN is set,
                                       else the console chat
    python bot.py --webhook            the Telegram bot behind an ASGI webhook (uvicorn, --workers N)
    python bot.py web                  the web app: family web chat at /, WeChat at /wechat, desk at /desk
                                       (--host H --port P --workers N)
    python bot.py screen FACTS.json    screen one family (--json for the facts.md result object)
    python bot.py simulate FACTS.json  run the real questionnaire answering from the facts (--json)
    python bot.py ask "问题"            answer a question from the knowledge base (--region, --json)
    python bot.py kb check             validate every policy pack
    python bot.py staff add ID --role staff --region 温岭    give a Telegram user a role
    python bot.py staff add USERNAME --role admin --password-stdin     a desk account (/desk)
    python bot.py staff list / remove USERNAME / reset-password USERNAME --password-stdin
    python bot.py export --region 温岭 --format xlsx --out FILE / --case REF --format docx --out FILE
    python bot.py db upgrade           apply the database migrations (also done at start-up)
    python bot.py maintenance          delete unfinished conversations older than TONGZHU_SESSION_DAYS
    python bot.py keygen               print a new TONGZHU_DATA_KEY
    python bot.py keys rotate          re-encrypt everything under the first key of TONGZHU_DATA_KEY=NEW,OLD
    python bot.py keys fingerprint     the fingerprints of the configured key(s) and of the database's
    python bot.py doctor               check the database, migrations, key, Bot API/WeChat, disk space
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from settings import get_settings


MAX_INPUT = 1_000_000  # bytes: a household's facts are a few hundred


class BadInput(Exception):
    """Bad input on the command line: one line to stderr, exit code 2 (no traceback)."""


def _load_json(path: str) -> object:
    try:
        raw = sys.stdin.buffer.read(MAX_INPUT + 1) if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"读不到文件 {path}：{exc.strerror}")
    if len(raw) > MAX_INPUT:
        raise BadInput(f"{path} 太大了（超过 {MAX_INPUT // 1000} KB），不像一户家庭的情况")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} 不是 UTF-8 编码的文本（第 {exc.start} 个字节）：请另存为 UTF-8 的 JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path} 不是有效的 JSON（第{exc.lineno}行第{exc.colno}列）：{exc.msg}")
    except RecursionError:
        raise BadInput(f"{path} 的 JSON 嵌套太深，不像一户家庭的情况")


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


def cmd_simulate(args: argparse.Namespace) -> int:
    from conversation.simulate import simulate
    from screening.facts import FactsError, parse_facts

    data = _load_json(args.facts)
    try:
        parse_facts(data)
    except FactsError as exc:
        for key, message in exc.problems:
            print(f"输入有误 {key}: {message}", file=sys.stderr)
        return 2
    out = simulate(data)
    if args.json:
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        from templates import render_text

        print(f"问了 {out['questions_asked']} 个问题")
        sys.stdout.write(render_text("text/screen.txt.j2", r=out["result"]))
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """The password from stdin's first line (--password-stdin), or typed twice at a terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("密码 (password): ")
        if getpass.getpass("再输一次 (again): ") != first:
            print("两次输入的密码不一样 (the passwords differ)", file=sys.stderr)
            return None
        return first
    print("give the password on stdin with --password-stdin", file=sys.stderr)
    return None


def cmd_staff_add(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from policy_kb.loader import load_kb
    from policy_kb.places import place_index
    from storage import repo
    from storage.db import make_engine
    from storage.models import Role

    region = None
    if args.region:
        match = place_index(load_kb()).resolve(args.region)
        if match.node is None:
            print(f"不认识的地区：{args.region}（试试“温岭”“重庆綦江区”）", file=sys.stderr)
            return 2
        region = match.node.name
    elif args.role == "staff":
        print("staff needs --region: the place whose cases they review", file=sys.stderr)
        return 2
    if not args.who.isdigit():
        return _desk_account_add(args, region)
    args.telegram_id = int(args.who)
    engine = make_engine()
    with Session(engine) as session, session.begin():
        user = repo.set_role(session, user_key=f"tg:{args.telegram_id}", telegram_id=args.telegram_id,
                             role=Role(args.role), region=region)
        repo.audit(session, user_key="cli", action="role", detail=f"tg:{args.telegram_id} → {args.role} {region or ''}")
        line = f"tg:{args.telegram_id} is now {user.role.value}" + (f" for {region}" if region else "")
        if user.referral_code:
            line += f"; families start with https://t.me/<bot>?start={user.referral_code}"
    print(line)
    return 0


def _desk_account_add(args: argparse.Namespace, region: str | None) -> int:
    from sqlmodel import Session

    from desk.accounts import AccountError, add_account
    from storage.db import make_engine
    from storage.models import Role

    if args.role == "guardian":
        print("desk accounts are staff, volunteer or admin", file=sys.stderr)
        return 2
    password = _read_password(args)
    if password is None:
        return 2
    engine = make_engine()
    try:
        with Session(engine) as session, session.begin():
            user = add_account(session, username=args.who, password=password, role=Role(args.role),
                               region=region, telegram_id=args.telegram_id)
            line = (f"{args.who} is now {user.role.value}" + (f" for {region}" if region else "")
                    + (f", linked to Telegram {user.telegram_id}" if user.telegram_id else ""))
            if user.role == Role.admin:
                line += "; sets up TOTP (an authenticator app) at the first sign-in at /desk"
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(line)
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    from sqlmodel import Session, col, select

    from desk.accounts import is_locked, list_accounts
    from storage.db import make_engine
    from storage.models import Role, User

    engine = make_engine()
    with Session(engine) as session:
        for user in list_accounts(session):
            flags = [f for f, on in (("TOTP", user.totp_enabled), ("locked", is_locked(user))) if on]
            print(f"{user.username:<20} {user.role.value:<10} {user.region or '-':<16} "
                  f"{'tg:' + str(user.telegram_id) if user.telegram_id else '-':<16} {' '.join(flags)}")
        telegram_only = session.exec(select(User).where(col(User.username).is_(None),
                                                        col(User.role).in_([Role.staff, Role.admin, Role.volunteer]))
                                     .order_by(User.id))
        for user in telegram_only:
            print(f"{'(' + user.user_key + ')':<20} {user.role.value:<10} {user.region or '-':<16} Telegram only")
    return 0


def _change_account(change, done: str, **kwargs) -> int:
    """One desk-account change in one transaction: `done` printed, or the refusal in one line (exit 2)."""
    from sqlmodel import Session

    from desk.accounts import AccountError
    from storage.db import make_engine

    try:
        with Session(make_engine()) as session, session.begin():
            change(session, **kwargs)
    except AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(done)
    return 0


def cmd_staff_remove(args: argparse.Namespace) -> int:
    from desk.accounts import remove_account

    return _change_account(remove_account, f"{args.username} can no longer sign in; their past actions stay "
                           "in the history", username=args.username)


def cmd_staff_reset(args: argparse.Namespace) -> int:
    from desk.accounts import reset_password

    password = _read_password(args)
    if password is None:
        return 2
    return _change_account(reset_password, f"new password set for {args.username}; their open sessions were "
                           "ended and the lock lifted", username=args.username, password=password)


def cmd_export(args: argparse.Namespace) -> int:
    from casework.export import export_docx, export_xlsx
    from policy_kb.loader import load_kb
    from policy_kb.places import place_index
    from storage.db import make_engine, reading

    engine = make_engine()
    out = Path(args.out)
    with reading(engine) as session:
        if args.format == "docx":
            if not args.case:
                print("--format docx needs --case REF", file=sys.stderr)
                return 2
            try:
                export_docx(session, reference=args.case, out=out)
            except LookupError as exc:
                print(str(exc), file=sys.stderr)
                return 2
        else:
            region = None
            if args.region:
                match = place_index(load_kb()).resolve(args.region)
                if match.node is None:
                    print(f"不认识的地区：{args.region}", file=sys.stderr)
                    return 2
                region = [match.node.name]
            export_xlsx(session, region_lineage=region, out=out)
    print(f"wrote {out}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage.db import make_engine

    make_engine()
    print("database is up to date")
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    from casework.jobs import run_maintenance
    from storage.db import make_engine

    done = run_maintenance(make_engine(), days=args.days)
    print("another worker is running maintenance" if done is None else
          f"deleted {done['sessions']} unfinished conversations and {done['updates']} old update ids")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from storage import crypto, keys
    from storage.db import make_engine

    configured = crypto.keys()
    engine = make_engine()
    counts = keys.rotate(engine)
    print(f"re-encrypted under key {crypto.fingerprint(configured[0])}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if len(configured) > 1:
        print("the old key(s) can now be removed from TONGZHU_DATA_KEY")
    return 0


def cmd_keys_fingerprint(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from storage import crypto, keys
    from storage.db import make_engine

    for i, key in enumerate(crypto.keys()):
        print(f"{'encrypts' if i == 0 else 'decrypts'}: {crypto.fingerprint(key)}")
    engine = make_engine(migrate=False)
    try:
        with Session(engine) as session:
            print(f"database: {keys.stored_fingerprint(session) or 'none recorded yet'}")
    except Exception as exc:  # noqa: BLE001 - a database not made yet
        print(f"database: not readable ({type(exc).__name__})")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from storage.doctor import run_doctor

    return run_doctor()


def cmd_keygen(args: argparse.Namespace) -> int:
    from storage.crypto import new_key

    print(new_key())
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    from web.app import run_web

    return run_web(host=args.host, port=args.port, workers=args.workers)


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
    from storage.crypto import key_problem

    problem = key_problem()
    if problem:
        print(f"童助 will not start: {problem}", file=sys.stderr)
        return 2
    if args.webhook:
        from handlers.webhook import run_webhook

        return run_webhook(workers=args.workers, port=args.port)
    if get_settings().telegram_bot_token:
        from handlers.telegram_app import run_polling

        return run_polling()
    from handlers.console import run_console

    return run_console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot.py", description="童助：困境儿童保障政策助手")
    parser.add_argument("--webhook", action="store_true", help="serve Telegram updates over HTTP (ASGI)")
    parser.add_argument("--workers", type=int, default=1, help="webhook worker processes (PostgreSQL for >1)")
    parser.add_argument("--port", type=int, default=get_settings().port)
    sub = parser.add_subparsers(dest="command")

    p_screen = sub.add_parser("screen", help="screen one family from a facts JSON file")
    p_screen.add_argument("facts", help="facts JSON file (../shared/spec/facts.md), or - for stdin")
    p_screen.add_argument("--json", action="store_true", help="print the result object")
    p_screen.set_defaults(func=cmd_screen)

    p_sim = sub.add_parser("simulate", help="run the questionnaire answering from a facts JSON file")
    p_sim.add_argument("facts", help="facts JSON file, or - for stdin")
    p_sim.add_argument("--json", action="store_true", help="print {questions_asked, facts, result}")
    p_sim.set_defaults(func=cmd_simulate)

    try:
        from freetext.cli import add_ask_parser
    except ImportError:  # pragma: no cover - the free-text package is optional at run time
        add_ask_parser = None
    if add_ask_parser is not None:
        add_ask_parser(sub)

    p_staff = sub.add_parser("staff", help="roles")
    staff_sub = p_staff.add_subparsers(dest="staff_command", required=True)
    p_add = staff_sub.add_parser("add", help="give a Telegram user (a number) a role, or create a desk account")
    p_add.add_argument("who", help="a Telegram id (digits), or a desk USERNAME")
    p_add.add_argument("--role", choices=["staff", "volunteer", "admin", "guardian"], default="staff")
    p_add.add_argument("--region", help="the place the staff member serves, e.g. 温岭")
    p_add.add_argument("--telegram-id", type=int, default=None, help="link the desk account to this Telegram id")
    p_add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    p_add.set_defaults(func=cmd_staff_add)
    staff_sub.add_parser("list", help="desk accounts and Telegram staff").set_defaults(func=cmd_staff_list)
    p_rm = staff_sub.add_parser("remove", help="take away a desk account's access")
    p_rm.add_argument("username")
    p_rm.set_defaults(func=cmd_staff_remove)
    p_reset = staff_sub.add_parser("reset-password", help="set a new password (and unlock)")
    p_reset.add_argument("username")
    p_reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    p_reset.set_defaults(func=cmd_staff_reset)

    p_export = sub.add_parser("export", help="cases for the office: xlsx list or a docx 预申请登记表")
    p_export.add_argument("--region")
    p_export.add_argument("--case", help="a reference, for --format docx")
    p_export.add_argument("--format", choices=["xlsx", "docx"], default="xlsx")
    p_export.add_argument("--out", required=True)
    p_export.set_defaults(func=cmd_export)

    p_db = sub.add_parser("db", help="database")
    db_sub = p_db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    p_maint = sub.add_parser("maintenance", help="delete stale unfinished conversations")
    p_maint.add_argument("--days", type=int, default=None)
    p_maint.set_defaults(func=cmd_maintenance)

    sub.add_parser("keygen", help="print a new encryption key").set_defaults(func=cmd_keygen)
    p_keys = sub.add_parser("keys", help="the data key: rotate, fingerprint")
    keys_sub = p_keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("rotate", help="re-encrypt everything under the first key of TONGZHU_DATA_KEY "
                                       "(NEW,OLD) and recompute duplicate hashes").set_defaults(func=cmd_keys_rotate)
    keys_sub.add_parser("fingerprint", help="fingerprints of the configured keys and of the database"
                        ).set_defaults(func=cmd_keys_fingerprint)
    sub.add_parser("doctor", help="check the database, migrations, key, Bot API or WeChat, disk space"
                   ).set_defaults(func=cmd_doctor)

    p_web = sub.add_parser("web", help="the web app: family chat at /, WeChat at /wechat, desk at /desk")
    p_web.add_argument("--host", default=None, help="address to listen on (default HOST, 127.0.0.1)")
    p_web.add_argument("--port", type=int, default=None, help="port (default PORT, 8080)")
    p_web.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL for >1)")
    p_web.set_defaults(func=cmd_web)

    p_kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = p_kb.add_subparsers(dest="kb_command", required=True)
    p_check = kb_sub.add_parser("check", help="validate every policy pack")
    p_check.add_argument("--packs", help="folder of packs (default policy_kb/packs)")
    p_check.add_argument("--shared", help="the shared folder holding policy_sources/")
    p_check.set_defaults(func=cmd_kb_check)

    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return cmd_run(args)
        return args.func(args)
    except BadInput as exc:
        print(f"输入有误：{exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # loaded only here: `screen`, `simulate` and `ask` never touch the database or the key
        from storage.crypto import MissingKey
        from storage.keys import KeyMismatch

        if not isinstance(exc, (KeyMismatch, MissingKey)):
            raise
        print(f"童助 will not start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
