"""The escalation sweep under a burst: 100,000 open deadlines, of which 10,000 fall due at once.

Real worker processes (``python -m workers.runner --processes N``: each a sweeper every
``--sweep-seconds`` and an RQ worker), a real embedded Redis, a fresh database (a SQLite file, or a
throwaway PostgreSQL database). The deadline rows are bulk-inserted with SQLAlchemy Core: reported
hotline cases with an open 2 h dispatch clock; the 10,000 are planned so that their reminder falls
due at one instant a few seconds after the workers start, the 90,000 others days later.

Measured: the time from that instant until the last of the 10,000 steps is applied, steps/s over
that time, and the lag of each step (applied_at − due_at) as min (the first step out), p50, p99
and max. Also printed: the claim statement's plan — PostgreSQL ``EXPLAIN ANALYZE`` in a
rolled-back transaction, with nothing due and with 10,000 due; SQLite ``EXPLAIN QUERY PLAN``.

    .venv/bin/python -m bench.escalation --backend sqlite --processes 1
    .venv/bin/python -m bench.escalation --all            # both backends × 1 and 2 processes
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine

from bench.lifecycle import machine_report
from bench.world import DEFAULT_POSTGRES, fresh_database
from engine.db import make_engine, make_session_factory
from engine.deadline.models import Deadline, EscalationStep
from engine.deadline.sweep import claim_statement
from engine.models import Base
from tests.builders import make_city
from tests.escalation_support import seed_open_deadlines, step_counts
from workers.redis_server import EmbeddedRedis

REPO_ROOT = Path(__file__).resolve().parents[1]
LIMIT = timedelta(hours=2)  # the dispatch clock; its reminder is at 80 %
CHUNK = 10_000
BOOT = timedelta(seconds=8)  # time for the workers to start before the burst falls due


@dataclass(frozen=True)
class Figures:
    backend: str
    processes: int
    pending: int
    due: int
    sweep_seconds: float
    seed_seconds: float
    drain_seconds: float
    lag_min: float
    lag_p50: float
    lag_p99: float
    lag_max: float

    @property
    def steps_per_s(self) -> float:
        return self.due / self.drain_seconds

    def row(self) -> str:
        return (
            f"| {self.backend} | {self.processes} | {self.pending:,} | {self.due:,} | "
            f"{self.sweep_seconds:g} s | {self.lag_min:.2f} s | {self.drain_seconds:.1f} s | "
            f"{self.steps_per_s:,.0f} | {self.lag_p50:.1f} s | {self.lag_p99:.1f} s | "
            f"{self.lag_max:.1f} s |"
        )


HEADER = [
    "| backend | worker processes | pending | due at once | sweep every | first applied after "
    "| all applied after | steps/s | lag p50 | lag p99 | lag max |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed(engine: Engine, *, pending: int, due: int, due_at: datetime) -> None:
    """``pending`` deadlines due days from now, and ``due`` whose reminder falls at ``due_at``."""
    with make_session_factory(engine)() as session:
        city = make_city(session, now=datetime.now(UTC))
    for start in range(0, pending, CHUNK):
        # Limits of 1 to 30 days: their reminders fall between 19 hours and 24 days from now.
        limit = timedelta(days=1 + (start // CHUNK) % 30)
        count = min(CHUNK, pending - start)
        seed_open_deadlines(engine, city, count=count, started_at=datetime.now(UTC), limit=limit)
    for start in range(0, due, CHUNK):
        count = min(CHUNK, due - start)
        started = due_at - LIMIT * 0.8
        seed_open_deadlines(engine, city, count=count, started_at=started, limit=LIMIT)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def plans(engine: Engine, due_at: datetime, due: int) -> list[str]:
    """The claim statement's plan with nothing due, then with the burst due."""
    dialect = engine.dialect.name
    lease = timedelta(seconds=30)
    out = []
    moments = (("nothing due", due_at - timedelta(seconds=1)), (f"{due:,} due", due_at))
    for label, now in moments:
        statement = claim_statement(dialect=dialect, now=now, token="bench", lease=lease, limit=500)
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if dialect == "postgresql":
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS, BUFFERS) " + sql)
                lines = [r[0] for r in rows]
            else:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
                lines = [f"{r[1]:>3} {r[3]}" for r in rows]
            conn.rollback()  # EXPLAIN ANALYZE ran the UPDATE: claim nothing for real
        out += [f"{dialect}, {label}:", "```", *lines, "```"]
    return out


def run(backend: str, processes: int, *, pending: int, due: int, sweep: float,
        server_url: str | None) -> tuple[Figures, list[str]]:  # fmt: skip
    """One measured burst on a fresh database."""
    with fresh_database(backend, server_url) as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        _progress(f"{backend} × {processes}: seeding {pending + due:,} deadlines …")
        started = time.perf_counter()
        due_at = datetime.now(UTC) + timedelta(minutes=10)  # re-planned below, once seeded
        seed(engine, pending=pending, due=due, due_at=due_at)
        seed_seconds = time.perf_counter() - started
        plan = plans(engine, due_at, due)
        # Move the burst to a few seconds from now (the seeding took a while).
        due_at = datetime.now(UTC) + BOOT
        _replan(engine, due_at)
        with tempfile.TemporaryDirectory(prefix="wb-", dir="/tmp") as tmp:
            with EmbeddedRedis(data_dir=Path(tmp) / "r") as redis_server:
                drain = _drain(url, redis_server.url, processes, sweep, due, due_at, engine)
            figures = _figures(engine, backend, processes, pending, due, sweep, seed_seconds,
                               drain, due_at)  # fmt: skip
        engine.dispose()
    return figures, plan


def _replan(engine: Engine, due_at: datetime) -> None:
    """Put the burst's reminders at ``due_at`` (its clocks started 96 minutes before)."""
    started = due_at - LIMIT * 0.8
    with engine.begin() as conn:
        conn.execute(
            update(Deadline)
            .where(Deadline.limit == f"{int(LIMIT.total_seconds())}s")
            .values(started_at=started, due_at=started + LIMIT, next_fire_at=due_at)
        )


def _applied(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(EscalationStep)).scalar_one()


def _drain(url: str, redis_url: str, processes: int, sweep: float, due: int,
           due_at: datetime, engine: Engine) -> float:  # fmt: skip
    """Run the workers until every step is applied; seconds from ``due_at`` to the last one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env |= {"DATABASE_URL": url, "REDIS_URL": redis_url, "WHISTLE_SWEEP_SECONDS": str(sweep)}
    workers = subprocess.Popen(
        [sys.executable, "-m", "workers.runner", "--processes", str(processes)],
        env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, process_group=0,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 1800
        while _applied(engine) < due:
            if workers.poll() is not None:
                raise RuntimeError(f"the workers exited with {workers.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the burst was not applied within 30 minutes")
            time.sleep(0.5)
    finally:
        workers.send_signal(signal.SIGTERM)
        try:
            workers.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(workers.pid, signal.SIGKILL)
            workers.wait()
    with engine.connect() as conn:
        last = conn.execute(select(func.max(EscalationStep.applied_at))).scalar_one()
    return (last - due_at).total_seconds()


def _figures(engine: Engine, backend: str, processes: int, pending: int, due: int, sweep: float,
             seed_seconds: float, drain: float, due_at: datetime) -> Figures:  # fmt: skip
    with make_session_factory(engine)() as session:
        counts = step_counts(session)
        if len(counts) != due or set(counts.values()) != {1}:
            raise RuntimeError(f"expected {due} steps applied once each, got {len(counts)}")
        rows = session.execute(select(EscalationStep.due_at, EscalationStep.applied_at)).all()
    lags = sorted((applied - due).total_seconds() for due, applied in rows)

    def pct(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))]

    return Figures(backend, processes, pending, due, sweep, seed_seconds, drain,
                   lags[0], pct(0.50), pct(0.99), lags[-1])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.escalation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--all", action="store_true", help="both backends × 1 and 2 processes")
    parser.add_argument("--pending", type=int, default=90_000, help="deadlines not yet due")
    parser.add_argument("--due", type=int, default=10_000, help="deadlines due at once")
    parser.add_argument("--sweep-seconds", type=float, default=2.0)
    parser.add_argument(
        "--url", default=None, help=f"PostgreSQL server (default {DEFAULT_POSTGRES})"
    )
    args = parser.parse_args(argv)
    combos = (
        [(b, p) for b in ("sqlite", "postgresql") for p in (1, 2)]
        if args.all
        else [(args.backend, args.processes)]
    )
    print("\n".join(machine_report(args.url)))
    print()
    rows: list[str] = []
    plans_out: list[str] = []
    for backend, processes in combos:
        figures, plan = run(backend, processes, pending=args.pending, due=args.due,
                            sweep=args.sweep_seconds, server_url=args.url)  # fmt: skip
        _progress(figures.row())
        rows.append(figures.row())
        if processes == combos[0][1] or not plans_out:
            plans_out += plan
    print("\n".join([*HEADER, *rows]))
    print()
    print("\n".join(plans_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
