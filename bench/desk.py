"""The office desk under a caseload: `python -m bench.desk --cases 1000 [--db URL] [--filing service] [--json]`.

Families file through the real conversation engine and case service (bench/caseload.py), across the
five places, some urgent; staff then work part of the caseload through the same service the desk
uses (casework/actions.py). Filing dates are spread over the last 60 days (the rows' created_at and
due date are moved back after filing, and so are the decisions: that is the only thing not done
through the service). Then the desk's pages are timed in-process (Starlette's TestClient, so the
numbers are the server's work without a network) and the dashboard's figures printed.
Not a test: it asserts nothing; it prints numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, select

PLACES = ["温岭", "綦江", "门头沟", "通化", "温岭"]


def build(engine, n: int, seed: int = 7, filing: str = "conversation") -> dict:
    """`filing`: "conversation" (each family through the engine, the five places, stories and danger
    answers) or "service" (bench/exports.py `make_cases`: CaseService.file_case directly, 温岭 and 綦江
    alternately, ≈ 60 times faster, for a caseload of 10,000)."""
    from bench.caseload import Family
    from bench.exports import make_cases
    from casework.actions import CaseActions
    from casework.deadlines import add_working_days, office_limit
    from casework.staff import departments_of
    from desk.accounts import add_account
    from storage.models import PreApplication, Role, Status, StatusChange

    rng = random.Random(seed)
    started = time.perf_counter()
    if filing == "service":
        refs = make_cases(engine, n)
    else:
        refs = [Family(engine, f"web:bench-{i}").file_case(
                    region=PLACES[i % len(PLACES)], age=3 + i % 14,
                    story="孩子爸妈都不在了，我一个人带着他" if i % 7 == 0 else None, safe=(i % 25 != 0),
                    child_name=f"孩子{i:04d}", applicant=f"家长{i:04d}") for i in range(n)]
    seconds = time.perf_counter() - started
    now = dt.datetime.now(dt.timezone.utc)
    with Session(engine) as s, s.begin():
        admin = add_account(s, username="bench-admin", password="bench admin password", role=Role.admin, region=None)
        cases = s.exec(select(PreApplication)).all()
        for case in cases:
            filed = now - dt.timedelta(days=rng.uniform(0, 60))
            limit = office_limit(json.loads(case.result_json))
            s.exec(update(PreApplication).where(PreApplication.id == case.id)
                   .values(created_at=filed, due_at=add_working_days(filed, limit))
                   .execution_options(synchronize_session=False))  # "auto" scans every loaded case: n²
        s.expire_all()  # the cases are read again with their new dates
        service = CaseActions(s, admin)
        worked = 0
        for case in s.exec(select(PreApplication)).all():
            roll = rng.random()
            if roll < 0.45:
                continue
            service.transition(case, Status.reviewing)
            if roll < 0.55:
                pass  # still being reviewed
            elif roll < 0.65:
                docs = service.documents(case)
                service.set_requested(case, {d.id for d in docs[:2]})
                service.transition(case, Status.needs_documents)
            elif roll < 0.85:
                service.transition(case, Status.accepted, department=departments_of(case)[0])
            else:
                service.transition(case, Status.refused, reason="不符合本地政策规定的条件")
            worked += 1
        s.flush()
        for change in s.exec(select(StatusChange).where(StatusChange.from_status.is_not(None))).all():
            case = s.get(PreApplication, change.case_id)
            created = case.created_at if case.created_at.tzinfo else case.created_at.replace(tzinfo=dt.timezone.utc)
            change.at = min(now, created + dt.timedelta(days=rng.uniform(1, 25)))
            s.add(change)
    return {"cases": n, "filing_seconds": round(seconds, 1), "per_case_ms": round(1000 * seconds / n, 1),
            "worked": worked, "refs": refs}


SEARCH = {"conversation": "孩子00", "service": "王小明12"}  # a child's name as each filing names them


def time_pages(engine, refs: list[str], rounds: int = 20, search: str = SEARCH["conversation"]) -> dict:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from desk.app import create_desk_app
    from desk.accounts import add_account
    from storage.models import Role

    with Session(engine) as s, s.begin():
        add_account(s, username="bench-wenling", password="bench staff password", role=Role.staff,
                    region="浙江省台州市温岭市")
    app = Starlette(routes=[Mount("/desk", app=create_desk_app(engine=engine))])
    out = {}
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/desk/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/desk/login", data={"csrf": csrf, "username": "bench-wenling",
                                              "password": "bench staff password"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        with Session(engine) as s:
            from storage.models import PreApplication
            ref = s.exec(select(PreApplication.reference).where(PreApplication.place_lineage.contains("/浙江省台州市温岭市/"))).first()
        pages = {"queue": "/desk/", "queue filtered (overdue)": "/desk/?overdue=1",
                 "queue search": f"/desk/?q={search}", "case page": f"/desk/case/{ref}",
                 "print page": f"/desk/case/{ref}/print", "DOCX": f"/desk/case/{ref}/docx",
                 "dashboard": "/desk/dashboard", "XLSX (all open of the place)": "/desk/export.xlsx?status=all"}
        for name, url in pages.items():
            times = []
            for _ in range(rounds if "XLSX" not in name else 5):
                t = time.perf_counter()
                r = client.get(url)
                times.append(1000 * (time.perf_counter() - t))
                assert r.status_code == 200, (url, r.status_code, r.text[:300])
            out[name] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                         "bytes": len(r.content)}
    return out


def figures(engine) -> dict:
    from desk import queries

    with Session(engine) as s:
        d = queries.dashboard(s, prefixes=None)
    return {"open": d.open_total, "by_status": d.by_status, "by_category": d.by_category[:8],
            "by_place": d.by_place, "urgent_open": d.urgent_open, "overdue": d.overdue,
            "decided": d.decided, "median_days_filing_to_decision": d.median_days}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desk")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--db", default=None, help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--filing", choices=["conversation", "service"], default="conversation",
                        help="how the cases are made (see build)")
    args = parser.parse_args(argv)
    from storage.db import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db or f"sqlite:///{Path(tmp) / 'desk-bench.db'}")
        built = build(engine, args.cases, filing=args.filing)
        result = {"caseload": {k: v for k, v in built.items() if k != "refs"}, "dashboard": figures(engine),
                  "pages": time_pages(engine, built["refs"], search=SEARCH[args.filing])}
        engine.dispose()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        c = result["caseload"]
        print(f"filed {c['cases']} cases through the {args.filing} in {c['filing_seconds']} s "
              f"({c['per_case_ms']} ms a case); staff worked {c['worked']}")
        d = result["dashboard"]
        print(f"open {d['open']}, urgent open {d['urgent_open']}, overdue {d['overdue']}, decided {d['decided']}, "
              f"median days filing→decision {d['median_days_filing_to_decision']}")
        print("by status:", d["by_status"])
        print("by category:", d["by_category"])
        print("by place:", d["by_place"])
        for name, t in result["pages"].items():
            print(f"{name:<32} median {t['median_ms']:>7} ms   max {t['max_ms']:>7} ms   {t['bytes']:>8} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
