"""Where a lifecycle step's time goes: SQL statements per step type, the time spent inside the
database driver, and a cProfile of the engine.

Runs one engine client in this process, first counting the statements each step sends; then the
floor and the engine once more, timing what the engine spends inside the driver (its statements
and its commit) against the floor's whole step: the ratio the engine could reach if everything
outside the driver cost nothing; on SQLite, the pages each step writes to the write-ahead log,
by table and index; then under cProfile. Not a throughput figure: the listeners and
the profiler slow it (use ``bench.lifecycle`` for that).

    .venv/bin/python -m bench.inspect_steps --backend sqlite --cases 300 --profile /tmp/steps.prof
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.drivers import INBOX_READ, STEPS, T0, ClientResult, EngineClient, Share, run_floor_client
from bench.world import fresh_database, prepare

_VERB = re.compile(r"\s*(\w+)")


def count_statements(url: str, cases: int) -> dict[str, Counter[str]]:
    """Statements (by verb) and commits each step type sends, summed over ``cases`` cases."""
    organisation = prepare(url, cases=cases, now=T0)
    client = EngineClient(url, organisation)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    current = ["setup"]

    def on_execute(
        conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        verb = _VERB.match(statement)
        counts[current[0]][verb.group(1).upper() if verb else "?"] += 1

    def on_commit(conn: Any) -> None:
        counts[current[0]]["COMMIT"] += 1

    event.listen(client.engine, "before_cursor_execute", on_execute)
    event.listen(client.engine, "commit", on_commit)
    try:
        client.run(cases, ClientResult(), hook=lambda step: current.__setitem__(0, step))
    finally:
        client.close()
    return counts


def statement_table(counts: dict[str, Counter[str]], cases: int) -> list[str]:
    """Statements per step (averaged over the cases) as a Markdown table."""
    verbs = ["SELECT", "INSERT", "UPDATE", "WITH", "COMMIT"]
    lines = [
        "| step | " + " | ".join(verbs) + " | statements |",
        "|---|" + "---:|" * (len(verbs) + 1),
    ]
    total: Counter[str] = Counter()
    for step in [*STEPS, INBOX_READ]:
        c = counts.get(step, Counter())
        total += c
        statements = sum(n for v, n in c.items() if v != "COMMIT")
        cells = " | ".join(f"{c[v] / cases:g}" for v in verbs)
        lines.append(f"| {step} | {cells} | {statements / cases:g} |")
    statements = sum(n for v, n in total.items() if v != "COMMIT")
    cells = " | ".join(f"{total[v] / cases:g}" for v in verbs)
    lines.append(f"| **per case** | {cells} | {statements / cases:g} |")
    return lines


@dataclass
class DriverTime:
    """Seconds per step: the floor's whole step, and the engine's whole step and its part inside
    the driver (statements and commit), overall and by step type."""

    floor: float
    engine: dict[str, float]
    inside: dict[str, float]
    # Per step, by what was sent (the verb, or COMMIT): seconds inside the driver, and how many.
    by_verb: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)

    @property
    def ceiling(self) -> float:
        """The floor's step over the engine's driver time: the most the engine could reach."""
        return self.floor / self.inside["all"]


def driver_time(url: str, cases: int) -> DriverTime:
    """Run the floor, then the engine, on ``cases`` cases; time the engine inside the driver."""
    organisation = prepare(url, cases=cases, now=T0)
    floor = run_floor_client(url, organisation, Share(first_id=1, count=cases), lambda: None)
    client = EngineClient(url, organisation)
    inside: defaultdict[str, float] = defaultdict(float)
    by_verb: defaultdict[str, float] = defaultdict(float)
    sent: Counter[str] = Counter()
    current, started, verb = ["setup"], [0.0], ["?"]
    perf = time.perf_counter

    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        found = _VERB.match(statement)
        verb[0] = found.group(1).upper() if found else "?"
        started[0] = perf()

    def after(*_: Any) -> None:
        spent = perf() - started[0]
        inside[current[0]] += spent
        if current[0] in STEPS:
            by_verb[verb[0]] += spent
            sent[verb[0]] += 1

    dialect = client.engine.dialect
    plain_commit = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        t = perf()
        plain_commit(dbapi_connection)
        spent = perf() - t
        inside[current[0]] += spent
        if current[0] in STEPS:
            by_verb["COMMIT"] += spent
            sent["COMMIT"] += 1

    event.listen(client.engine, "before_cursor_execute", before)
    event.listen(client.engine, "after_cursor_execute", after)
    setattr(dialect, "do_commit", do_commit)  # noqa: B010 - this engine's own method
    result = ClientResult()
    try:
        client.run(cases, result, hook=lambda step: current.__setitem__(0, step))
    finally:
        client.close()
    steps = cases * len(STEPS)
    engine: dict[str, float] = {s: sum(result.latencies[s]) / cases for s in STEPS}
    engine["all"] = sum(sum(result.latencies[s]) for s in STEPS) / steps
    per_step: dict[str, float] = {s: inside[s] / cases for s in STEPS}
    per_step["all"] = sum(inside[s] for s in STEPS) / steps
    return DriverTime(
        (floor.finished - floor.started) / steps,
        engine,
        per_step,
        by_verb={v: t / steps for v, t in by_verb.items()},
        sent={v: n / steps for v, n in sent.items()},
    )


def driver_table(figures: DriverTime) -> list[str]:
    """The engine's step and its time inside the driver, per step type, in microseconds."""
    lines = [
        "| step | engine µs | inside the driver µs | share |",
        "|---|---:|---:|---:|",
    ]
    for step in [*STEPS, "all"]:
        whole, inside = figures.engine[step], figures.inside[step]
        label = "**mean**" if step == "all" else step
        lines.append(f"| {label} | {whole * 1e6:.0f} | {inside * 1e6:.0f} | {inside / whole:.0%} |")
    lines.append(
        f"\nThe floor's whole step: {figures.floor * 1e6:.0f} µs. The engine's time inside the "
        f"driver alone is {figures.inside['all'] / figures.floor:.2f}× that: even with nothing "
        f"else costing anything, the engine would reach {figures.ceiling:.0%} of the floor."
    )
    lines += [
        "\nInside the driver by what was sent (the lifecycle's steps; a WITH is PostgreSQL's "
        "move statement, a SELECT mostly the load):\n",
        "| sent | per step | µs each | µs per step |",
        "|---|---:|---:|---:|",
    ]
    for v, seconds in sorted(figures.by_verb.items(), key=lambda item: -item[1]):
        n = figures.sent[v]
        lines.append(f"| {v} | {n:.2f} | {seconds / n * 1e6:.0f} | {seconds * 1e6:.0f} |")
    return lines


# A write-ahead log: a 32-byte header, then frames of a 24-byte header (the page's number first,
# big-endian) and the page itself (https://www.sqlite.org/fileformat2.html#walformat).
_WAL_HEADER, _FRAME_HEADER = 32, 24


def wal_pages(url: str, cases: int) -> tuple[dict[str, Counter[str]], int]:
    """SQLite: the pages each step type writes to the write-ahead log, by the table or index
    they belong to, summed over ``cases`` cases; and the page size.

    Automatic checkpoints are off for the client's connections, so the log only grows: the
    frames a step appends are read back from the file between steps and each page's number is
    looked up in ``dbstat`` at the end. A page written twice in a step counts twice, as the log
    holds it twice (each frame is written and synced at the step's commit).
    """
    organisation = prepare(url, cases=cases, now=T0)
    client = EngineClient(url, organisation)
    path = client.engine.url.database
    assert path is not None

    def no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    event.listen(client.engine, "connect", no_autocheckpoint)
    client.engine.dispose()  # the connections opened so far checkpoint as before: reopen them
    log = Path(f"{path}-wal")
    frames: dict[str, list[tuple[int, int]]] = defaultdict(list)  # step: (from, to) offsets
    current, mark = ["setup"], [0]

    def hook(step: str) -> None:
        size = log.stat().st_size if log.exists() else 0
        if size < mark[0]:  # reset by a checkpoint after all: the frames read would be wrong
            raise RuntimeError(f"the write-ahead log shrank during '{current[0]}'")
        frames[current[0]].append((max(mark[0], _WAL_HEADER), size))
        current[0], mark[0] = step, size

    try:
        client.run(cases, ClientResult(), hook=hook)
        hook("end")
        with client.engine.connect() as conn:
            page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            found = conn.exec_driver_sql("SELECT pageno, name FROM dbstat")
            names = {int(number): str(name) for number, name in found}
        data = log.read_bytes()
    finally:
        client.close()
    frame = _FRAME_HEADER + page_size
    pages: dict[str, Counter[str]] = defaultdict(Counter)
    for step in STEPS:
        for start, end in frames.get(step, []):
            for offset in range(start, end - frame + 1, frame):
                (number,) = struct.unpack_from(">I", data, offset)
                pages[step][names.get(number, "(free)")] += 1
    return pages, page_size


def wal_table(pages: dict[str, Counter[str]], cases: int, page_size: int) -> list[str]:
    """Pages written to the log per step, and the tables and indexes they belong to."""
    lines = [
        "| step | pages | of which, per step |",
        "|---|---:|---|",
    ]
    total: Counter[str] = Counter()
    for step in STEPS:
        c = pages.get(step, Counter())
        total += c
        parts = ", ".join(f"{name} {n / cases:.1f}" for name, n in c.most_common())
        lines.append(f"| {step} | {sum(c.values()) / cases:.1f} | {parts} |")
    steps = cases * len(STEPS)
    parts = ", ".join(f"{name} {n / steps:.1f}" for name, n in total.most_common(8))
    lines.append(f"| **mean** | {sum(total.values()) / steps:.1f} | {parts} … |")
    lines.append(f"\n({page_size}-byte pages.)")
    return lines


def profile(url: str, cases: int, out: str | None) -> pstats.Stats:
    """Profile ``cases`` engine lifecycles in this process."""
    organisation = prepare(url, cases=cases, now=T0)
    client = EngineClient(url, organisation)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        client.run(cases, ClientResult())
        profiler.disable()
    finally:
        client.close()
    if out:
        profiler.dump_stats(out)
    return pstats.Stats(profiler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inspect_steps", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--url", help="PostgreSQL server for the throwaway database")
    parser.add_argument("--profile", metavar="FILE", help="write the cProfile stats here")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile to print")
    args = parser.parse_args(argv)
    with fresh_database(args.backend, args.url) as url:
        counts = count_statements(url, args.cases)
    print(f"Statements per step on {args.backend} (mean over {args.cases} cases):\n")
    print("\n".join(statement_table(counts, args.cases)))
    with fresh_database(args.backend, args.url) as url:
        figures = driver_time(url, args.cases)
    print(f"\nTime inside the database driver on {args.backend} ({args.cases} cases):\n")
    print("\n".join(driver_table(figures)))
    if args.backend == "sqlite":
        with fresh_database(args.backend, args.url) as url:
            pages, page_size = wal_pages(url, args.cases)
        print(f"\nPages each step writes to SQLite's write-ahead log ({args.cases} cases):\n")
        print("\n".join(wal_table(pages, args.cases, page_size)))
    with fresh_database(args.backend, args.url) as url:
        stats = profile(url, args.cases, args.profile)
    print(f"\ncProfile of {args.cases} cases ({args.cases * len(STEPS)} steps):\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
