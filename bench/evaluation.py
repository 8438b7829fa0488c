"""Evaluation benchmark: a year of cases for one district, bulk-loaded into PostgreSQL, then the
full recompute, the year-end evaluation of every department from the rollups, and the XLSX export
with its peak memory.

    .venv/bin/python -m bench.evaluation --cases 100000
    .venv/bin/python -m bench.evaluation --cases 1000000 --json /tmp/eval-1m.json

The district: 20 streets of 5 communities, 50 departments, 300 co-building units (3 registered
with each community). Cases are spread over 2025 (Beijing time), 90 % hotline cases led by a
department (with 0–2 assisting departments), 10 % community demands claimed by a unit; states,
ratings, clock outcomes, objections, extensions, supervisions, red steps and exclusions are drawn
at fixed rates from a seeded generator. Rows go in with PostgreSQL ``COPY``; the rollups start
empty and the first recompute (with ``--fix``) builds them. Each export runs in a child process
so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench.world import DEFAULT_POSTGRES, fresh_database
from engine.access import Actor
from engine.calendar import WorkCalendar
from engine.db import make_engine, make_session_factory
from engine.evaluation.export import ExportFormat, export_to_path
from engine.evaluation.period import Period
from engine.evaluation.recompute import recompute
from engine.evaluation.service import evaluate, year_end_report
from engine.models import Base
from engine.organisation import service as org
from engine.organisation.models import OrgNode
from engine.rollup.metrics import Cohort, Level
from engine.rollup.models import Rollup
from engine.runtime import Runtime
from engine.vocabulary import OrgKind
from engine.workflow.loader import WorkflowRegistry

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = 2025
STREETS, COMMUNITIES_PER_STREET, DEPARTMENTS, UNITS = 20, 5, 50, 300
STATES = (  # (state, share)
    ("rated", 0.60), ("closed", 0.15), ("resolved", 0.05), ("reporting_in", 0.10),
    ("hard_case", 0.02), ("cancelled", 0.03), ("assigned", 0.05),
)  # fmt: skip
RESOLVED_STATES = {"rated", "closed", "resolved"}
CASE_COLUMNS = (
    "id", "workflow", "state", "priority", "title", "description", "area_id", "area_path",
    "street_id", "community_id", "source", "created_at", "updated_at", "dispatched_at",
    "resolved_at", "rated_at", "closed_at", "rating", "solved", "verified_solved", "redo_count",
    "extension_count", "excluded", "exclusion_reason", "event_count", "last_hash", "version",
    "resolved_on_time", "supervise_count", "red_count",
)  # fmt: skip
ASSIGNMENT_COLUMNS = (
    "id", "case_id", "org_id", "role", "state", "objection_reason", "created_at", "accepted_at",
    "on_site_at", "done_at", "withdrawn_at", "evidence", "service_hours", "version",
    "accepted_on_time", "reported_in_on_time", "supervise_count", "red_count",
)  # fmt: skip


def build_district(url: str) -> dict[str, Any]:
    """The org tree; returns the ids the generator draws from."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    now = datetime(YEAR, 1, 1, tzinfo=UTC)

    def node(s: Session, kind: OrgKind, code: str, parent: OrgNode | None) -> OrgNode:
        return org.create_node(
            s, kind=kind, code=code, name_zh=f"{kind}{code}", name_en=code, parent=parent
        )

    with make_session_factory(engine)() as s:
        district = node(s, OrgKind.DISTRICT, "D", None)
        communities: list[OrgNode] = []
        for i in range(STREETS):
            street = node(s, OrgKind.STREET, f"S{i}", district)
            communities += [
                node(s, OrgKind.COMMUNITY, f"C{i}-{j}", street)
                for j in range(COMMUNITIES_PER_STREET)
            ]
        departments = [
            node(s, OrgKind.DEPARTMENT, f"DEP{k}", district).id for k in range(DEPARTMENTS)
        ]
        units: dict[int, list[int]] = {c.id: [] for c in communities}
        for u in range(UNITS):
            unit = node(s, OrgKind.UNIT, f"U{u}", district)
            community = communities[u % len(communities)]
            org.register_unit(s, unit=unit, community=community, now=now)
            units[community.id].append(unit.id)
        s.commit()
        rows = [(c.id, c.parent_id, c.path) for c in communities]
    engine.dispose()
    return {"communities": rows, "departments": departments, "units": units}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


GRADES = ("satisfied", "basically_satisfied", "dissatisfied")
GRADE_SHARES = (0.75, 0.15, 0.10)


def generate(
    n: int, district: dict[str, Any], seed: int
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(case row, assignment rows) for case ids 1..n, drawn from a seeded generator."""
    rng = random.Random(seed)
    start = datetime(YEAR, 1, 1, tzinfo=SHANGHAI).astimezone(UTC)
    span = (datetime(YEAR + 1, 1, 1, tzinfo=SHANGHAI).astimezone(UTC) - start).total_seconds()
    states, weights = zip(*STATES, strict=True)
    next_assignment = [0]
    for case_id in range(1, n + 1):
        created = start + timedelta(seconds=rng.random() * span)
        dispatched = created + timedelta(minutes=rng.expovariate(1 / 40))
        community = district["communities"][rng.randrange(len(district["communities"]))]
        demand = rng.random() < 0.10 and bool(district["units"][community[0]])
        state = rng.choices(states, weights)[0]
        resolved_at = None
        if state in RESOLVED_STATES:
            resolved_at = dispatched + timedelta(hours=rng.uniform(1, 240))
        red = 1 if rng.random() < 0.02 else 0
        supervise = red or (1 if rng.random() < 0.04 else 0)
        case = _case_row(rng, case_id, community, demand, state, created, dispatched, resolved_at,
                         supervise, red)  # fmt: skip
        if demand:
            leads = [rng.choice(district["units"][community[0]])]
            helpers: list[int] = []
        else:
            leads = [rng.choice(district["departments"])]
            helpers = [h for h in rng.sample(district["departments"], rng.choice((0, 0, 1, 2)))
                       if h != leads[0]]  # fmt: skip
        rows = []
        for role, org_id in [("lead", leads[0])] + [("assisting", h) for h in helpers]:
            next_assignment[0] += 1
            counters = (supervise, red) if role == "lead" else (0, 0)
            rows.append(_assignment_row(rng, next_assignment[0], case_id, org_id, role, state,
                                        dispatched, resolved_at, demand, counters))  # fmt: skip
        yield case, rows


def _case_row(
    rng: random.Random, case_id: int, community: tuple[int, int, str], demand: bool, state: str,
    created: datetime, dispatched: datetime, resolved_at: datetime | None, supervise: int,
    red: int,
) -> tuple[Any, ...]:  # fmt: skip
    community_id, street_id, path = community
    rated = state == "rated"
    rating = rng.choices(GRADES, GRADE_SHARES)[0] if rated else None
    excluded = resolved_at is not None and rng.random() < 0.01
    closed = state == "closed" and resolved_at is not None
    return (
        case_id, "community_whistle" if demand else "hotline", state, "normal", "诉求", "",
        community_id, path, street_id, community_id, "whistle" if demand else "hotline",
        _stamp(created), _stamp(resolved_at or dispatched), _stamp(dispatched),
        _stamp(resolved_at) if resolved_at else None,
        _stamp(resolved_at + timedelta(hours=20)) if rated and resolved_at else None,
        _stamp(resolved_at + timedelta(days=3)) if closed and resolved_at else None,
        rating, (rating != "dissatisfied") if rated else None,
        (rng.random() < 0.9) if closed and rng.random() < 0.5 else None,
        1 if rated and rng.random() < 0.03 else 0, 1 if rng.random() < 0.05 else 0,
        excluded, "rating" if excluded else None, 8, "0" * 64, 8,
        (rng.random() < 0.85) if resolved_at else None, supervise, red,
    )  # fmt: skip


def _assignment_row(
    rng: random.Random, assignment_id: int, case_id: int, org_id: int, role: str, state: str,
    dispatched: datetime, resolved_at: datetime | None, demand: bool, counters: tuple[int, int],
) -> tuple[Any, ...]:  # fmt: skip
    withdrawn = state == "cancelled" or rng.random() < 0.02
    accepted = not withdrawn and state != "assigned"
    on_site = accepted and rng.random() < 0.97
    done = on_site and resolved_at is not None
    status = "withdrawn" if withdrawn else (
        "done" if done else "on_site" if on_site else "accepted" if accepted else "assigned"
    )  # fmt: skip
    return (
        assignment_id, case_id, org_id, role, status,
        "非本部门职责" if rng.random() < 0.03 else None, _stamp(dispatched),
        _stamp(dispatched + timedelta(minutes=30)) if accepted else None,
        _stamp(dispatched + timedelta(hours=3)) if on_site else None,
        _stamp(resolved_at) if done and resolved_at else None,
        _stamp(dispatched + timedelta(hours=1)) if withdrawn else None, "[]",
        round(rng.uniform(0.5, 6), 2) if demand and done else None, 4,
        (rng.random() < 0.92) if accepted else None, (rng.random() < 0.88) if on_site else None,
        *counters,
    )  # fmt: skip


def load(url: str, n: int, district: dict[str, Any], seed: int) -> tuple[int, float]:
    """COPY the cases and assignments in; (assignments, seconds)."""
    engine = make_engine(url)
    started = time.perf_counter()
    assignments = 0
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None  # a pooled connection that is open
        with conn.cursor() as cur:
            with cur.copy(f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as cases_copy:
                pending: list[tuple[Any, ...]] = []
                for case, rows in generate(n, district, seed):
                    cases_copy.write_row(case)
                    pending.extend(rows)
            with cur.copy(
                f"COPY assignments ({', '.join(ASSIGNMENT_COLUMNS)}) FROM STDIN"
            ) as a_copy:
                for row in pending:
                    a_copy.write_row(row)
                assignments = len(pending)
            cur.execute("ANALYZE")
        conn.commit()
    finally:
        raw.close()
        engine.dispose()
    return assignments, time.perf_counter() - started


def runtime() -> Runtime:
    return Runtime(
        workflows=WorkflowRegistry.load(), calendar=WorkCalendar(timezone="Asia/Shanghai")
    )


def _rss_mib() -> float:
    """This process's resident set now (Linux: /proc/self/statm, in pages)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples the resident set every 5 ms; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mib()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, _rss_mib())


def export_child(url: str, fmt: str, out: str) -> None:
    """In a child process: build the year-end report and write it; print its time, the RSS
    before it started and the peak RSS while it ran (sampled, and the kernel's high-water mark).
    """
    rt = runtime()
    engine = make_engine(url)
    size = 0
    with make_session_factory(engine)() as session:
        session.execute(text("SELECT 1"))
        before = _rss_mib()
        sampler = RssSampler()
        sampler.start()
        started = time.perf_counter()
        report = year_end_report(
            session=session, rt=rt, actor=Actor.system(), period=Period.year(YEAR),
            levels=list(Level), now=datetime(YEAR + 1, 2, 1, tzinfo=UTC),
        )  # fmt: skip
        figures_done, peak_figures = _rss_mib(), max(sampler.peak, _rss_mib())
        sampler.peak = figures_done  # from here on: the writing alone
        size = export_to_path(report, ExportFormat(fmt), Path(out)).stat().st_size
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    # Not ru_maxrss: it keeps the high-water mark of the parent's pages from before the exec.
    print(json.dumps({
        "seconds": seconds, "rss_before_mib": before, "peak_figures_mib": peak_figures,
        "rss_after_figures_mib": figures_done,
        "peak_writing_mib": max(sampler.peak, _rss_mib()), "bytes": size,
    }))  # fmt: skip


def run_export(url: str, fmt: str, out: Path) -> dict[str, Any]:
    """Run one export in a fresh process (its peak RSS is its own)."""
    command = [sys.executable, "-m", "bench.evaluation", "--export-child", fmt, "--url", url,
               "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median and worst wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), result


def year_end(session: Session, rt: Runtime, level: Level) -> Any:
    """The year-end evaluation of every unit of a level, monthly series included."""
    return evaluate(
        session=session, rt=rt, actor=Actor.system(), level=level, period=Period.year(YEAR),
        now=datetime(YEAR + 1, 2, 1, tzinfo=UTC), monthly=True,
    )  # fmt: skip


def bench(url: str, n: int, seed: int, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"cases": n, "load_average_before": os.getloadavg()}
    district = build_district(url)
    out["assignments"], out["load_seconds"] = load(url, n, district, seed)
    say(f"loaded {n} cases, {out['assignments']} assignments in {out['load_seconds']:.1f} s")
    rt = runtime()
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        built = recompute(session=s, calendar=rt.calendar, cohort=Cohort.DISPATCHED, fix=True)
        out["build_seconds"], out["rollup_keys"] = built.seconds, built.keys
        cpu = time.process_time()
        checked = recompute(session=s, calendar=rt.calendar, cohort=Cohort.DISPATCHED)
        out["recompute_cpu_seconds"] = time.process_time() - cpu  # this process, not the server
        out["recompute_seconds"] = checked.seconds
        out["recompute_rows_per_second"] = checked.rows_per_second
        out["recompute_differences"] = len(checked.differences)
        out["rollup_rows"] = s.scalar(select(func.count()).select_from(Rollup))
        cpu_seconds, differences = out["recompute_cpu_seconds"], len(checked.differences)
        say(f"recompute {checked.seconds:.1f} s ({cpu_seconds:.1f} s CPU here), "
            f"{checked.rows_per_second:,.0f} rows/s, {differences} differences")  # fmt: skip
        for level in Level:
            median, worst, evaluation = timed(lambda lv=level: year_end(s, rt, lv), repeat=5)
            out[f"year_end_{level}"] = {
                "median": median,
                "max": worst,
                "units": len(evaluation.rows),
            }
            say(f"year-end {level}: {len(evaluation.rows)} units, median {median * 1000:.0f} ms")
        out["lists"] = {
            "red_step_cases": s.scalar(text("SELECT count(*) FROM cases WHERE red_count > 0")),
            "excluded_cases": s.scalar(text("SELECT count(*) FROM cases WHERE excluded")),
        }
    engine.dispose()
    for fmt in (ExportFormat.XLSX, ExportFormat.JSON, ExportFormat.CSV):
        out[f"export_{fmt}"] = run_export(url, fmt, workdir / f"year.{fmt}")
        say(f"export {fmt}: {out[f'export_{fmt}']}")
    out["load_average_after"] = os.getloadavg()
    return out


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--url", default=DEFAULT_POSTGRES, help="PostgreSQL server (a database is "
                        "made on it and dropped afterwards)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--json", type=Path, help="Write the figures here too.")
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.url, args.export_child, args.out)
        return
    with fresh_database("postgresql", args.url) as url, tempfile.TemporaryDirectory() as tmp:
        figures = bench(url, args.cases, args.seed, Path(tmp))
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
