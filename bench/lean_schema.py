"""What a lighter schema would buy a lifecycle step: the same run with and without the
secondary indexes and foreign keys a step writes through.

The lifecycle benchmark (``bench.lifecycle``, the floor and the engine taking turns) runs on a
database as the migrations make it ("full"), then on one where, once the world is prepared, the
secondary indexes of the tables a step writes (cases, deadlines, assignments) and, on
PostgreSQL, the foreign keys of cases, events, deadlines and rollups are dropped ("lean"). The two
alternate, ``--pairs`` times, so both see the machine's drift alike. The lean schema is not one
to run: the console's lists, the sweep and the evaluation read through those indexes. It is an
upper bound of what pruning them could give a step.

    .venv/bin/python -m bench.lean_schema --backend postgresql --cases 1000 --pairs 2
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import text

from bench.lifecycle import RunFigures, machine_report, run
from engine.db import make_engine

# Every secondary index of the tables a lifecycle step writes, except those a step's own load
# and guard read by (the cases' primary key, the children's case_id, the events' (case_id, seq)).
SECONDARY_INDEXES = (
    "ix_cases_state_street",
    "ix_cases_street_created",
    "ix_cases_category_state",
    "ix_cases_created",
    "ix_cases_dispatched",
    "ix_cases_reporter_phone",
    "ix_cases_area_path_created",
    "ix_deadlines_state_due",
    "ix_deadlines_next_fire_at",
    "ix_deadlines_assignment",
    "ix_assignments_org_state",
)
FOREIGN_KEY_TABLES = ("cases", "events", "deadlines", "evaluation_rollups")


def lean(url: str) -> None:
    """Drop the secondary indexes (and on PostgreSQL the foreign keys) a step writes through."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for name in SECONDARY_INDEXES:
                conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
            if engine.dialect.name == "postgresql":
                keys = conn.execute(
                    text(
                        "SELECT conname, conrelid::regclass::text FROM pg_constraint "
                        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(:tables)"
                    ),
                    {"tables": list(FOREIGN_KEY_TABLES)},
                ).all()
                for name, table in keys:
                    conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    finally:
        engine.dispose()


def row(schema: str, r: RunFigures) -> str:
    return (
        f"| {r.backend} | {schema} | {r.floor.steps_per_s:,.0f} | {r.engine.steps_per_s:,.0f} "
        f"| {100 * r.ratio:.1f} % | {r.engine.p50_ms:.2f} | {r.engine.load_before:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lean_schema", description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--url", help="PostgreSQL server for the throwaway databases")
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.rounds < 1 or args.cases < args.rounds:
        parser.error("need --pairs ≥ 1, --rounds ≥ 1 and at least one case per round")
    print("\n".join(machine_report(args.url)), flush=True)
    lines = [
        "| backend | schema | floor steps/s | engine steps/s | engine ÷ floor | engine p50 ms "
        "| load |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for _ in range(args.pairs):
        for schema in ("full", "lean"):
            print(f"{args.backend}, {schema} schema", file=sys.stderr, flush=True)
            figures = run(
                args.backend, args.cases, 1, args.url, args.rounds,
                alter=lean if schema == "lean" else None,
            )  # fmt: skip
            lines.append(row(schema, figures))
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
