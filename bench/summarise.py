"""min / median / max of several ``python -m bench --json`` (or ``bench.exports``) outputs, as a Markdown table:

    python -m bench.summarise run1.json run2.json run3.json [--label before]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

METRICS = [  # (label, path in the JSON)
    ("bot updates/s", ("bot", "updates_per_s")),
    ("echo updates/s", ("echo", "updates_per_s")),
    ("bot p50 ms", ("bot", "p50_ms")),
    ("bot p99 ms", ("bot", "p99_ms")),
    ("cpu_ms_per_update bot", ("bot", "cpu_ms_per_update")),
    ("cpu_ms_per_update echo", ("echo", "cpu_ms_per_update")),
    ("sql_statements_per_update", ("bot", "sql_statements_per_update")),
    ("ask_process_ms", ("processes", "ask_process_ms")),
    ("ask_process_cpu_ms", ("processes", "ask_process_cpu_ms")),
    ("ask_first_process_ms", ("processes", "ask_first_process_ms")),
    ("screen_process_ms", ("processes", "screen_process_ms")),
    ("screen_process_cpu_ms", ("processes", "screen_process_cpu_ms")),
    ("simulate_process_ms", ("processes", "simulate_process_ms")),
    ("simulate_process_cpu_ms", ("processes", "simulate_process_cpu_ms")),
    ("start_to_first_reply_ms", ("processes", "start_to_first_reply_ms")),
    ("start_to_first_reply_cpu_ms", ("processes", "start_to_first_reply_cpu_ms")),
    ("first_reply_ms (from the first poll)", ("processes", "first_reply_ms")),
    ("next_reply_ms", ("processes", "next_reply_ms")),
    ("export_xlsx_10k_s", ("exports", "export_xlsx_10k_s")),
    ("export_xlsx_cpu_s", ("exports", "export_xlsx_cpu_s")),
    ("export_xlsx_statements", ("exports", "export_xlsx_statements")),
    ("export_xlsx_region_s (5,000 rows)", ("exports", "export_xlsx_region_s")),
    ("export_xlsx_region_statements", ("exports", "export_xlsx_region_statements")),
    ("export_docx_ms", ("exports", "export_docx_ms")),
    ("export_docx_cpu_ms", ("exports", "export_docx_cpu_ms")),
    ("export_docx_statements", ("exports", "export_docx_statements")),
    ("staff_queue_ms", ("exports", "staff_queue_ms")),
    ("staff_queue_statements", ("exports", "staff_queue_statements")),
    ("staff_case_ms", ("exports", "staff_case_ms")),
    ("staff_case_statements", ("exports", "staff_case_statements")),
]


def pick(data: dict, path: tuple[str, ...]):
    """The value at `path`; the exports' figures sit under "exports" in `python -m bench --json` and at
    the top in `python -m bench.exports --json`."""
    if path[0] == "exports" and "exports" not in data:
        path = path[1:]
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def fmt(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e5 else f"{x:.0f}"


def table(runs: list[dict]) -> str:
    lines = [f"| metric | min | median | max | runs |", "|---|---:|---:|---:|---:|"]
    for label, path in METRICS:
        values = [v for v in (pick(r, path) for r in runs) if isinstance(v, (int, float))]
        if values:
            lines.append(f"| {label} | {fmt(min(values))} | {fmt(statistics.median(values))} | "
                         f"{fmt(max(values))} | {len(values)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summarise")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    runs = []
    for name in args.files:
        try:
            runs.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
