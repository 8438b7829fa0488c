"""The pieces PostgreSQL's JSON-row statements are built from (``pg_write``, one move, and
``pg_batch``, a batch of escalation moves): each part's rows travel as one JSON array unpacked by
``jsonb_to_recordset``, so a statement's text never depends on how many rows it carries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import _queries as _psycopg_queries
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from engine.case.unit import snapshot_of, table_of
from engine.db import UTCDateTime, compact_json
from engine.rollup.models import Rollup

PG = postgresql.dialect()  # type: ignore[no-untyped-call]
ROLLUPS = table_of(Rollup)


def quote(name: str) -> str:
    return f'"{name}"'


def columns_of(table: Table, *, skip: tuple[str, ...] = ()) -> list[str]:
    return [c.name for c in table.columns if c.name not in skip]


def record(table: Table, columns: Sequence[str], extra: str = "") -> str:
    """The column list of ``jsonb_to_recordset`` for ``columns`` of ``table``."""
    defs = [f"{quote(c)} {table.c[c].type.compile(dialect=PG)}" for c in columns]
    return ", ".join([*([extra] if extra else []), *defs])


def update_sql(
    table: Table,
    param: str,
    where: str = "",
    returning: str = "",
    *,
    extra: str = "id integer, _set jsonb",
) -> str:
    """Changed rows from a JSON array: each writes only the columns its ``_set`` names."""
    cols = columns_of(table, skip=("id", "version"))
    sets = [
        f"{quote(c)} = CASE WHEN x._set ? '{c}' THEN x.{quote(c)} ELSE t.{quote(c)} END"
        for c in cols
    ]
    if "version" in table.c:
        sets.append("version = t.version + 1")
    return (
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "
        f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x("
        f"{record(table, cols, extra=extra)}) WHERE t.id = x.id{where}{returning}"
    )


def keep_converted(sql: str) -> None:
    """Let psycopg keep its conversion of ``sql`` (placeholders to ``$n``) between executions.

    psycopg converts a query's text on every execution unless the text is at most
    ``MAX_CACHED_STATEMENT_LENGTH`` bytes (4 kB), a limit meant for ORM statements whose shape
    varies. This one is ~15 kB and never varies; re-parsing it cost ~0.1-0.2 ms of every move.
    """
    limit = getattr(_psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", None)
    size = len(sql.encode("utf-8"))
    if isinstance(limit, int) and limit < size:
        _psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = size


@cache
def _times(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if isinstance(c.type, UTCDateTime))


def plain(row: dict[str, Any], table: Table) -> dict[str, Any]:
    """A row's values as JSON can carry them: instants as naive UTC text (the columns' form)."""
    for name in _times(table):
        value = row.get(name)
        if isinstance(value, datetime):
            # In UTC the text ends in "+00:00"; cut, it is the naive text (cheaper than replace).
            row[name] = value.astimezone(UTC).isoformat()[:-6]
    return row


def new_rows(rows: Sequence[Any], table: Table) -> list[dict[str, Any]]:
    return [plain(snapshot_of(r, table), table) for r in rows]


def changed_rows(
    changes: Sequence[tuple[int, dict[str, Any]]], table: Table
) -> list[dict[str, Any]]:
    return [
        plain({**values, "id": row_id, "_set": sorted(values)}, table) for row_id, values in changes
    ]


def dumps(rows: list[dict[str, Any]]) -> str:
    return compact_json(rows) if rows else "[]"


def numbered(rows: Sequence[Any], table: Table) -> list[dict[str, Any]]:
    out = []
    for n, r in enumerate(rows):
        row = plain(snapshot_of(r, table), table)
        row.pop("id")
        row["_n"] = n
        out.append(row)
    return out
