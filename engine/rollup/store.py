"""Adding a contribution's change to the rollup rows: one upsert, one order for every writer.

The live writer (``engine/case/writer.py``), the importer and the recompute all add through here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.driver_sql import prepared
from engine.rollup.contribution import Contribution
from engine.rollup.models import Rollup

ROLLUP_KEY = ("level", "unit_id", "month", "metric", "shard")


def add_to_rollups(session: Session, diff: Contribution, *, shard: int = 0) -> None:
    """Add ``diff`` to the rollup rows of ``shard`` (INSERT … ON CONFLICT DO UPDATE)."""
    rows = rollup_rows(diff, shard)
    conn = session.connection()
    stmt = upsert_statement(conn.dialect.name)
    if len(rows) > _FEW:
        # An import's or a recompute's many rows: SQLAlchemy batches them into multi-row VALUES.
        conn.execute(stmt, rows)
    else:
        # A move's few rows: the statement compiled once, one executemany straight to the driver.
        prepared(stmt, conn.dialect).run_many(conn, rows)


# Up to this many rows go straight to the driver (a move adds a dozen or so).
_FEW = 64


def rollup_rows(diff: Contribution, shard: int) -> list[dict[str, Any]]:
    """The rollup rows of ``diff`` in the one order every writer uses (no waits in a cycle)."""
    return [
        {"level": lv, "month": m, "unit_id": u, "metric": k, "shard": shard, "value": v}
        for (lv, u, m, k), v in sorted(diff.items())
    ]


@cache
def upsert_statement(dialect: str) -> Insert:
    """The rollup upsert, one named parameter per column of ``rollup_rows``."""
    table = Rollup.__table__
    assert isinstance(table, Table)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values({c: bindparam(c) for c in (*ROLLUP_KEY, "value")})
    return stmt.on_conflict_do_update(
        index_elements=list(ROLLUP_KEY), set_={"value": table.c.value + stmt.excluded.value}
    )
