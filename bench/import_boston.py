"""History-import benchmark: the whole Boston 311 file (58,119 rows) into an empty database,
then the audit chains, the full recompute, and the Jan–Jun 2015 evaluation of every department.

    .venv/bin/python -m bench.import_boston --backend all --json /tmp/import.json

Each import runs in a child process, so its peak RSS is its own; a second child imports the file
again (it must add nothing). The run's calendar is in America/New_York, so months are Boston's
months. The per-department on-time resolution rate is read three ways: from the evaluation
(rollups), from the imported resolve-clock rows directly (a cross-check), and from the export's
own ``OnTime_Status`` (the city's figure, for comparison).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.world import DEFAULT_POSTGRES, fresh_database
from engine.access import Actor
from engine.assignment.models import Assignment
from engine.calendar import WorkCalendar
from engine.case.models import Case
from engine.db import make_engine, make_session_factory
from engine.deadline.models import Deadline
from engine.demo.city import SHARED_DATA
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute
from engine.evaluation.service import evaluate
from engine.event.service import verify_chains
from engine.importing import boston311
from engine.importing.service import import_csv_file
from engine.models import Base
from engine.organisation.models import OrgNode
from engine.rollup.metrics import Figure, Level
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.vocabulary import DeadlineState
from engine.workflow.loader import WorkflowRegistry

BOSTON = SHARED_DATA / "boston311_2015_h1.csv.gz"
TIMEZONE = "America/New_York"
PERIOD = Period(201501, 201506)


def runtime() -> Runtime:
    return Runtime(workflows=WorkflowRegistry.load(), calendar=WorkCalendar(timezone=TIMEZONE))


def child(url: str, limit: int | None, batch: int) -> dict[str, Any]:
    """Import the file once into ``url``; the figures of this process alone."""
    engine = make_engine(url)
    wall, cpu = time.perf_counter(), time.process_time()
    with make_session_factory(engine)() as session:
        summary = import_csv_file(
            session=session, rt=runtime(), path=BOSTON, spec=boston311.mapping(),
            rejects_path=Path(os.environ.get("TMPDIR", "/tmp")) / "boston-bench.rejects.csv",
            now=datetime.now(UTC), limit=limit, batch_size=batch,
        )  # fmt: skip
    engine.dispose()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "read": summary.read,
        "imported": summary.imported,
        "skipped": summary.skipped,
        "rejected": summary.rejected,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rows_per_s": round(summary.read / wall),
        "rows_per_cpu_s": round(summary.read / cpu),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_child(url: str, limit: int | None, batch: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.import_boston", "--child", url, "--batch", str(batch)]
    if limit:
        argv += ["--limit", str(limit)]
    load = os.getloadavg()[0]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=3600)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures | {"load_before": round(load, 1)}


def city_on_time(limit: int | None) -> dict[str, tuple[int, int]]:
    """The export's own OnTime_Status of closed rows per SUBJECT: (on time, closed)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with gzip.open(BOSTON, "rt", encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=1):
            if limit and number > limit:
                break
            if row["CLOSED_DT"]:
                out[row["SUBJECT"]][1] += 1
                out[row["SUBJECT"]][0] += row["OnTime_Status"] == "ONTIME"
    return {k: (v[0], v[1]) for k, v in out.items()}


def clock_rows(session: Session) -> dict[str, dict[str, int]]:
    """Per department, from the resolve-clock rows: met and late, all and TARGET_DT only."""
    stmt = (
        select(OrgNode.name_en, Deadline.state, Deadline.limit)
        .join(Assignment, Assignment.case_id == Deadline.case_id)
        .join(OrgNode, OrgNode.id == Assignment.org_id)
        .where(
            Deadline.clock == "resolve", Deadline.state.in_([DeadlineState.MET, DeadlineState.LATE])
        )
    )
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, state, limit in session.execute(stmt):
        out[name][state] += 1
        if limit.endswith("s"):  # a TARGET_DT, as seconds from the opening
            out[name][f"target_{state}"] += 1
    return out


def check(url: str, limit: int | None) -> dict[str, Any]:
    """Chains, recompute and the Jan–Jun 2015 evaluation of the departments."""
    rt = runtime()
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        started = time.perf_counter()
        broken = sum(1 for _ in verify_chains(session))
        verify_s = time.perf_counter() - started
        result = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort)
        started = time.perf_counter()
        report = evaluate(
            session=session, rt=rt, actor=Actor.system(), level=Level.DEPARTMENT, period=PERIOD,
            now=datetime.now(UTC),
        )  # fmt: skip
        evaluate_s = time.perf_counter() - started
        cases = session.scalar(select(func.count()).select_from(Case))
        clocks = clock_rows(session)
    engine.dispose()
    city = city_on_time(limit)
    departments = []
    for row in report.rows:
        name = row["unit_name_en"]
        c = clocks.get(name, {})
        met, late = c.get(DeadlineState.MET, 0), c.get(DeadlineState.LATE, 0)
        t_met, t_late = (
            c.get(f"target_{DeadlineState.MET}", 0),
            c.get(f"target_{DeadlineState.LATE}", 0),
        )
        on_time, closed = city.get(name, (0, 0))
        departments.append({
            "department": name,
            "cases": row[Figure.CASES],
            "resolved_with_due": met + late,
            "on_time_rate": row[Figure.ON_TIME_RESOLUTION_RATE],
            "cross_check": met / (met + late) if met + late else None,
            "target_only": t_met / (t_met + t_late) if t_met + t_late else None,
            "target_resolved": t_met + t_late,
            "city_on_time": on_time / closed if closed else None,
        })  # fmt: skip
    return {
        "cases": cases,
        "broken_chains": broken,
        "verify_s": round(verify_s, 1),
        "recompute_differences": len(result.differences),
        "recompute_s": round(result.seconds, 1),
        "evaluate_s": round(evaluate_s, 3),
        "departments": departments,
    }


def bench(backend: str, server: str, limit: int | None, batch: int) -> dict[str, Any]:
    with fresh_database(backend, server) as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        first = run_child(url, limit, batch)
        again = run_child(url, limit, batch)
        return {"backend": backend, "import": first, "rerun": again} | check(url, limit)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | rows | imported | rejected | wall s | rows/s | CPU s | rows/CPU-s "
        "| peak RSS MB | load | re-run: skipped, wall s | recompute diffs | broken chains |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        i, a = r["import"], r["rerun"]
        lines.append(
            f"| {r['backend']} | {i['read']:,} | {i['imported']:,} | {i['rejected']} "
            f"| {i['wall_s']} | {i['rows_per_s']:,} | {i['cpu_s']} | {i['rows_per_cpu_s']:,} "
            f"| {i['peak_rss_mb']} | {i['load_before']} | {a['skipped']:,}, {a['wall_s']} "
            f"| {r['recompute_differences']} | {r['broken_chains']} |"
        )
    lines += [
        "",
        "| department | cases | resolved with a due time | on-time resolution (evaluation) "
        "| cross-check from clock rows | TARGET_DT rows only (n) | city's OnTime_Status |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in sorted(results[0]["departments"], key=lambda d: -d["cases"]):
        lines.append(
            f"| {d['department']} | {d['cases']:,} | {d['resolved_with_due']:,} "
            f"| {_pct(d['on_time_rate'])} | {_pct(d['cross_check'])} "
            f"| {_pct(d['target_only'])} ({d['target_resolved']:,}) | {_pct(d['city_on_time'])} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="server for the run's database"
    )
    parser.add_argument("--limit", type=int, default=None, help="import only the first N rows")
    parser.add_argument("--batch", type=int, default=2000, help="rows per transaction")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.limit, args.batch)))
        return 0
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    started = datetime.now(UTC)
    results = []
    for backend in backends:
        results.append(bench(backend, args.postgres, args.limit, args.batch))
        print(json.dumps(results[-1]), flush=True)  # kept even if a later backend fails
    head = {
        "date": started.isoformat(timespec="seconds"),
        "took_s": round((datetime.now(UTC) - started).total_seconds()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.json:
        args.json.write_text(json.dumps(head | {"results": results}, indent=2), encoding="utf-8")
    print(json.dumps(head))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
