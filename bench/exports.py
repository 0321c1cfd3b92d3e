"""The office's exports and lists at scale: ``python -m bench.exports --cases 10000 [--db sqlite|postgres] [--json]``.

Cases are made through the real service (``casework.service.CaseService.file_case``, the code the
conversation calls when a family presses 提交), 500 per transaction, alternating a 温岭 orphan and a
綦江 低保 family, each child with its own valid 身份证 number. Then, each timed and its SQL statements
counted (a ``before_cursor_execute`` listener on the engine):

- ``export_xlsx_10k_s`` / ``export_xlsx_region_s``: ``export_xlsx`` of all cases / of 温岭's cases;
- ``export_docx_ms``: one 预申请登记表 (``export_docx``);
- ``staff_queue_ms`` / ``staff_case_ms``: the Telegram desk's /queue and /case REF (``casework.staff.handle``).

Each has a ``*_cpu_*`` twin: the CPU time of this process (with SQLite, the database's work too;
with PostgreSQL, not the server's). On a shared machine the wall time includes waiting for a core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from stdnum.cn import ric

from .run import DEFAULT_PG, database
from .sqlcount import StatementCounter

WENLING = {"region": "温岭市", "child": {"age": 9, "hukou_local": True, "living": "relatives", "school_stage": "primary"},
           "father": {"situations": ["deceased"]}, "mother": {"situations": ["deceased"]}}
QIJIANG = {"region": "綦江", "child": {"age": 12, "hukou_local": True}, "household": {"dibao": True}}


def child_number(area: str, age: int, i: int) -> str:
    """A valid 身份证 number, distinct for each i < 365 × 1000, of a child about ``age`` years old."""
    birth = dt.date(dt.date.today().year - age, 1, 1) + dt.timedelta(days=(i // 1000) % 365)
    body = f"{area}{birth:%Y%m%d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_cases(engine, n: int, *, batch: int = 500, start: int = 0, filer: str | None = None) -> list[str]:
    """n cases filed through CaseService.file_case (numbered from ``start``; each by its own family, or
    all by ``filer``, a volunteer); → their references."""
    from sqlmodel import Session

    from casework.service import CaseService
    from conversation.model import Who
    from screening.engine import screen

    results = {"wl": screen(WENLING), "qj": screen(QIJIANG)}
    service = CaseService(engine=engine)
    refs: list[str] = []
    for first in range(start, start + n, batch):
        with Session(engine) as s, s.begin():
            bound = service.bind(s)
            for i in range(first, min(start + n, first + batch)):
                wenling = i % 2 == 0
                facts, result = (WENLING, results["wl"]) if wenling else (QIJIANG, results["qj"])
                number = child_number("331081" if wenling else "500222", 9 if wenling else 12, i)
                ndocs = len(result.get("documents", []))
                state = {"identity": {"applicant_name": f"王秀英{i}", "relation": "祖父母", "phone": "13812345678",
                                      "child_name": f"王小明{i}", "child_id": number,
                                      "address": f"温岭市城东街道某某村{i}号"},
                         "docs": {str(k): k % 2 == 0 for k in range(ndocs)}, "acting": "self",
                         "nonce": f"n{i}", "urgent": i % 50 == 0, "danger": []}
                view, _ = bound.file_case(who=Who(filer or f"tg:{10_000_000 + i}"), state=state, facts=facts, result=result)
                refs.append(view["reference"])
    return refs


CPU: dict[str, float] = {}  # the CPU seconds of the last timed() call, in this process


def timed(engine, fn):
    """→ (seconds, statements, value) of fn(); its CPU time (this process: not PostgreSQL's) in CPU["s"]."""
    with StatementCounter(engine) as counter:
        started, cpu = time.perf_counter(), time.process_time()
        value = fn()
        seconds, CPU["s"] = time.perf_counter() - started, time.process_time() - cpu
    return seconds, counter.count, value


def measure(engine, refs: list[str], tmp: Path) -> dict:
    from sqlmodel import Session

    from casework import staff
    from casework.export import export_docx, export_xlsx
    from storage import repo
    from storage.db import reading
    from storage.models import Role

    with Session(engine) as s, s.begin():
        repo.set_role(s, user_key="tg:1", role=Role.admin, telegram_id=1)
        repo.set_role(s, user_key="tg:2", role=Role.staff, region="浙江省台州市温岭市", telegram_id=2)

    def xlsx(region):  # as bot.py export and the desks read: storage/db.py reading
        with reading(engine) as s:
            return export_xlsx(s, region_lineage=region, out=tmp / "cases.xlsx")

    def docx():
        with reading(engine) as s:
            return export_docx(s, reference=refs[len(refs) // 2], out=tmp / "case.docx")

    out: dict = {"cases": len(refs)}
    secs, stmts, rows = timed(engine, lambda: xlsx(None))
    out.update(export_xlsx_10k_s=round(secs, 2), export_xlsx_cpu_s=round(CPU["s"], 2),
               export_xlsx_statements=stmts, export_xlsx_rows=rows,
               export_xlsx_mb=round((tmp / "cases.xlsx").stat().st_size / 2**20, 2))
    secs, stmts, rows = timed(engine, lambda: xlsx(["浙江省台州市温岭市"]))
    out.update(export_xlsx_region_s=round(secs, 2), export_xlsx_region_cpu_s=round(CPU["s"], 2),
               export_xlsx_region_statements=stmts,
               export_xlsx_region_rows=rows)
    docx()  # the template's first load is not what a second one costs
    runs, cpus = [], []
    for _ in range(5):
        runs.append(timed(engine, docx))
        cpus.append(CPU["s"])
    out.update(export_docx_ms=round(sorted(r[0] for r in runs)[2] * 1000, 1),
               export_docx_cpu_ms=round(sorted(cpus)[2] * 1000, 1), export_docx_statements=runs[0][1])
    for name, kwargs in (("staff_queue", {"text": "/queue", "action": None}),
                         ("staff_case", {"text": f"/case {refs[0]}", "action": None})):
        staff.handle(engine=engine, user_key="tg:2", **kwargs)
        runs, cpus = [], []
        for _ in range(5):
            runs.append(timed(engine, lambda: staff.handle(engine=engine, user_key="tg:2", **kwargs)))
            cpus.append(CPU["s"])
        out[f"{name}_ms"] = round(sorted(r[0] for r in runs)[2] * 1000, 1)
        out[f"{name}_cpu_ms"] = round(sorted(cpus)[2] * 1000, 1)
        out[f"{name}_statements"] = runs[0][1]
    return out


def run(db: str, pg_url: str, cases: int) -> dict:
    from storage.db import make_engine

    with database(db, pg_url) as url, tempfile.TemporaryDirectory(prefix="tongzhu-export-") as tmp:
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            refs = make_cases(engine, cases)
            made = time.perf_counter() - started
            out = measure(engine, refs, Path(tmp))
            out["make_cases_s"] = round(made, 1)
            out["db"] = db
        finally:
            engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description="exports and staff lists at scale")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = run(args.db, args.pg_url, args.cases)
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
