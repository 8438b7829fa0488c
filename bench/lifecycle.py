"""Durable lifecycle throughput: the engine's services against the database floor.

Cases go raise → dispatch → accept → report in → complete → rate through the services, one commit
per step; in the same run and database the floor does, per step, one UPDATE of a status column,
one INSERT of an event row and a commit. Each client is its own process (no shared GIL).

    .venv/bin/python -m bench.lifecycle --backend sqlite --cases 2000 --clients 4
    .venv/bin/python -m bench.lifecycle --all            # the four combinations, as Markdown
    .venv/bin/python -m bench.lifecycle --all --rounds 5 # floor and engine take turns
    .venv/bin/python -m bench.lifecycle --rounds 5 --reference  # and a BPMN engine (bench.bpmn)

With ``--rounds R`` the cases are cut into R slices and the floor and the engine take turns, a
slice each (floor, engine, floor, engine, ...); each load's time is the sum of its turns. On a
machine whose speed drifts from minute to minute, the two loads then see the same drift, where
one floor phase followed by one engine phase four times as long may not.

With ``--reference`` a third load takes its turn after the engine in every round: the same steps
run by a BPMN engine that re-serialises each case's whole state every step (``bench.bpmn``), the
reference issue 11 compares the engine with, in the same database and the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import queue
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy
from sqlalchemy import func, select, text

from bench.drivers import STEPS, T0, ClientResult, Share, client_process, split
from bench.world import (
    DEFAULT_POSTGRES,
    Organisation,
    checkpoint,
    floor_cases,
    floor_events,
    fresh_database,
    prepare,
)
from engine.case.models import Case
from engine.db import make_engine, make_session_factory
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.vocabulary import CaseState, DeadlineState

# raise, dispatch, accept + lead_accepted, report_in, complete + resolve, rate
EVENTS_PER_CASE = 8
PHASE_TIMEOUT_S = 900


@dataclass
class Figures:
    """One load measured across all its clients."""

    steps: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    step_p50_ms: dict[str, float]
    step_p99_ms: dict[str, float]
    load_before: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s


@dataclass
class RunFigures:
    backend: str
    clients: int
    cases: int
    floor: Figures
    engine: Figures
    # The BPMN reference (``--reference``) and the mean size of its stored state, in characters.
    reference: Figures | None = None
    reference_state_chars: int | None = None

    @property
    def ratio(self) -> float:
        return self.engine.steps_per_s / self.floor.steps_per_s

    @property
    def reference_ratio(self) -> float | None:
        if self.reference is None:
            return None
        return self.reference.steps_per_s / self.floor.steps_per_s


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list, in milliseconds."""
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _summarise(turns: list[list[ClientResult]], load_before: float) -> Figures:
    """One load's figures over its turns (each turn: the results of its clients)."""
    results = [r for turn in turns for r in turn]
    everything = sorted(x for r in results for xs in r.latencies.values() for x in xs)
    per_step = {s: sorted(x for r in results for x in r.latencies[s]) for s in STEPS}
    return Figures(
        steps=len(everything),
        wall_s=sum(max(r.finished for r in turn) - min(r.started for r in turn) for turn in turns),
        p50_ms=_percentile(everything, 0.50),
        p99_ms=_percentile(everything, 0.99),
        step_p50_ms={s: _percentile(xs, 0.50) for s, xs in per_step.items()},
        step_p99_ms={s: _percentile(xs, 0.99) for s, xs in per_step.items()},
        load_before=load_before,
    )


def run_phase(
    load: str, url: str, organisation: Organisation, shares: list[Share]
) -> list[ClientResult]:
    """Run one load, a process per share, started together; gather their results."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(shares))
    out = ctx.Queue()
    processes = [
        ctx.Process(
            target=client_process,
            args=(load, url, organisation, share, barrier, out),
            name=f"bench-{load}-{k}",
        )
        for k, share in enumerate(shares)
    ]
    for p in processes:
        p.start()
    results: list[ClientResult] = []
    errors: list[str] = []
    try:
        for _ in processes:
            status, value = out.get(timeout=PHASE_TIMEOUT_S)
            (results if status == "ok" else errors).append(value)
    except queue.Empty:
        errors.append(f"a {load} client gave no answer within {PHASE_TIMEOUT_S} s")
    for p in processes:
        p.join(timeout=60)
        if p.is_alive():
            p.terminate()
    if errors:
        raise RuntimeError(f"{load} clients failed:\n" + "\n".join(errors))
    return results


def check_floor(url: str, cases: int) -> None:
    """Every floor step landed: versions add up and one event per step exists."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.scalar(select(func.sum(floor_cases.c.version)))
            events = conn.scalar(select(func.count()).select_from(floor_events))
    finally:
        engine.dispose()
    expected = cases * len(STEPS)
    if versions != expected or events != expected:
        raise RuntimeError(f"floor: {versions} versions and {events} events; expected {expected}")


def check_engine(url: str, cases: int) -> None:
    """Every case is rated, with its full event chain intact and no clock left running."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rated = conn.scalar(
                select(func.count()).select_from(Case).where(Case.state == CaseState.RATED)
            )
            events = conn.scalar(select(func.count()).select_from(Event))
            running = conn.scalar(
                select(func.count())
                .select_from(Deadline)
                .where(Deadline.state == DeadlineState.OPEN)
            )
        with make_session_factory(engine)() as session:
            broken = list(verify_chains(session))
    finally:
        engine.dispose()
    if rated != cases or events != cases * EVENTS_PER_CASE or running or broken:
        raise RuntimeError(
            f"engine: {rated} of {cases} cases rated, {events} events, {running} clocks still "
            f"running, {len(broken)} broken chains"
        )


def run(
    backend: str,
    cases: int,
    clients: int,
    server_url: str | None,
    rounds: int = 1,
    *,
    alter: Callable[[str], None] | None = None,
    reference: bool = False,
) -> RunFigures:
    """One combination: a fresh database; the floor, then the engine, a slice of the cases at a
    time for ``rounds`` turns each; both checked afterwards. ``alter(url)``, when given, changes
    the prepared database before anything is measured (an experiment on the schema).
    ``reference``: the BPMN reference engine takes a turn after the engine in every round."""
    if reference:
        from bench import bpmn  # needs SpiffWorkflow (a development extra): imported when asked
    loads = ("floor", "engine", "reference") if reference else ("floor", "engine")
    with fresh_database(backend, server_url) as url:
        organisation = prepare(url, cases=cases, now=T0)
        if reference:
            bpmn.create_tables(url)
        if alter is not None:
            alter(url)
        turns: dict[str, list[list[ClientResult]]] = {load: [] for load in loads}
        load_before: dict[str, float] = {}
        for turn in split(cases, rounds):
            shares = [
                Share(first_id=turn.first_id - 1 + share.first_id, count=share.count)
                for share in split(turn.count, clients)
            ]
            for load in loads:
                checkpoint(url)
                load_before.setdefault(load, os.getloadavg()[0])
                turns[load].append(run_phase(load, url, organisation, shares))
        check_floor(url, cases)
        check_engine(url, cases)
        figures = RunFigures(
            backend, clients, cases,
            floor=_summarise(turns["floor"], load_before["floor"]),
            engine=_summarise(turns["engine"], load_before["engine"]),
        )  # fmt: skip
        if reference:
            figures.reference_state_chars = bpmn.check_reference(url, cases)
            figures.reference = _summarise(turns["reference"], load_before["reference"])
        for load in loads:
            got = getattr(figures, load)
            _progress(f"  {load}: {got.steps_per_s:,.0f} steps/s over {got.wall_s:.1f} s")
    return figures


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _postgres_facts(server_url: str) -> str:
    try:
        engine = make_engine(server_url)
        with engine.connect() as conn:
            facts = {
                name: conn.execute(text(f"SHOW {name}")).scalar()
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        engine.dispose()
    except Exception as exc:  # the machine report must not fail when PostgreSQL is down
        return f"unreachable ({type(exc).__name__})"
    return (
        f"{facts['server_version']} (fsync={facts['fsync']}, synchronous_commit="
        f"{facts['synchronous_commit']}, wal_sync_method={facts['wal_sync_method']})"
    )


def _sqlite_facts() -> str:
    """The pragmas ``make_engine`` really sets, read back from a scratch database."""
    with fresh_database("sqlite") as url:
        engine = make_engine(url)
        with engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        engine.dispose()
    names: dict[Any, str] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"{sqlite3.sqlite_version} (journal_mode={journal}, synchronous={names.get(sync, sync)})"


def _tree_state() -> str:
    """The commit measured and whether engine/ had uncommitted changes (read-only git calls)."""
    git = ["git", "--no-optional-locks"]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "engine", "workflows"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    if not dirty:
        return f"commit {head}, engine/ and workflows/ clean"
    return f"commit {head} plus uncommitted changes in {len(dirty)} engine/ or workflows/ files"


def machine_report(server_url: str | None) -> list[str]:
    """The facts a reader needs to compare these figures with their own."""
    return [
        f"- date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{_cpu_model()}, {_memory()} RAM, load average {os.getloadavg()[0]:.2f} at start",
        f"- Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}",
        f"- SQLite {_sqlite_facts()}, pragmas as engine.db.make_engine sets them",
        f"- PostgreSQL {_postgres_facts(server_url or DEFAULT_POSTGRES)}",
        f"- engine measured: {_tree_state()}",
    ]


def markdown(runs: list[RunFigures]) -> list[str]:
    """The figures of every run as Markdown tables."""
    lines = [
        "| backend | clients | floor steps/s | engine steps/s | engine ÷ floor "
        "| floor p50 / p99 ms | engine p50 / p99 ms | floor wall s | engine wall s "
        "| load before floor / engine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        f, e = r.floor, r.engine
        lines.append(
            f"| {r.backend} | {r.clients} | {f.steps_per_s:,.0f} | {e.steps_per_s:,.0f} "
            f"| {100 * r.ratio:.0f} % | {f.p50_ms:.2f} / {f.p99_ms:.2f} "
            f"| {e.p50_ms:.2f} / {e.p99_ms:.2f} | {f.wall_s:.1f} | {e.wall_s:.1f} "
            f"| {f.load_before:.1f} / {e.load_before:.1f} |"
        )
    lines += [
        "",
        "Engine step latency by step, p50 / p99 ms:",
        "",
        "| backend | clients | " + " | ".join(STEPS) + " |",
        "|---|---:|" + "---:|" * len(STEPS),
    ]
    for r in runs:
        cells = " | ".join(
            f"{r.engine.step_p50_ms[s]:.2f} / {r.engine.step_p99_ms[s]:.2f}" for s in STEPS
        )
        lines.append(f"| {r.backend} | {r.clients} | {cells} |")
    measured = [r for r in runs if r.reference is not None]
    if measured:
        lines += [
            "",
            "The BPMN reference (`bench.bpmn`: SpiffWorkflow, its whole state re-serialised every "
            "step), same runs:",
            "",
            "| backend | clients | floor steps/s | engine steps/s | reference steps/s "
            "| engine ÷ floor | reference ÷ floor | reference p50 / p99 ms "
            "| reference state, characters | load before reference |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in measured:
            ref = r.reference
            assert ref is not None
            assert r.reference_ratio is not None
            lines.append(
                f"| {r.backend} | {r.clients} | {r.floor.steps_per_s:,.0f} "
                f"| {r.engine.steps_per_s:,.0f} | {ref.steps_per_s:,.0f} | {100 * r.ratio:.0f} % "
                f"| {100 * r.reference_ratio:.0f} % | {ref.p50_ms:.2f} / {ref.p99_ms:.2f} "
                f"| {r.reference_state_chars:,} | {ref.load_before:.1f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--url", help=f"PostgreSQL server to make the throwaway database on "
                        f"(default {DEFAULT_POSTGRES})")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="both backends, 1 and 4 clients")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="cut the cases into this many slices; the floor and the engine take turns",
    )  # fmt: skip
    parser.add_argument(
        "--reference", action="store_true",
        help="also run the BPMN reference engine (bench.bpmn; needs SpiffWorkflow) in each round",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.cases < args.clients or args.clients < 1:
        parser.error("need at least one case per client")
    if args.rounds < 1 or args.cases < args.rounds * args.clients:
        parser.error("--rounds: need at least one case per client in every round")
    if args.reference and importlib.util.find_spec("SpiffWorkflow") is None:
        parser.error("--reference needs SpiffWorkflow: pip install -e '.[dev]'")
    combos = (
        [(b, c) for b in ("sqlite", "postgresql") for c in (1, 4)]
        if args.all
        else [(args.backend, args.clients)]
    )
    print("\n".join(machine_report(args.url)), flush=True)
    runs = []
    for backend, clients in combos:
        _progress(f"{backend}, {clients} client(s), {args.cases} cases")
        runs.append(
            run(backend, args.cases, clients, args.url, args.rounds, reference=args.reference)
        )
    print()
    print("\n".join(markdown(runs)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            figures = [
                asdict(r) | {"ratio": r.ratio, "reference_ratio": r.reference_ratio} for r in runs
            ]
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
