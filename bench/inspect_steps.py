"""Where a lifecycle step's time goes: SQL statements per step type, and a cProfile of the engine.

Runs one engine client in this process (no floor), first counting the statements each step
sends, then again under cProfile; prints both. Not a throughput figure: the profiler slows it.

    .venv/bin/python -m bench.inspect_steps --backend sqlite --cases 300 --profile /tmp/steps.prof
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import event

from bench.drivers import INBOX_READ, STEPS, T0, ClientResult, EngineClient
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
        stats = profile(url, args.cases, args.profile)
    print(f"\ncProfile of {args.cases} cases ({args.cases * len(STEPS)} steps):\n")
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
