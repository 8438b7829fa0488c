"""PostgreSQL: every write of a move, the guarded case row first, as one statement of one shape.

The rows travel as JSON arrays, one parameter per part, unpacked on the server by
``jsonb_to_recordset``; so the SQL text never depends on how many rows a move wrote or which
columns it changed. It is built once per process, psycopg prepares it on the server after a few
uses, and nothing is compiled per move (a statement whose shape followed the move's rows was
compiled afresh almost every time, the largest cost of a step).

* changed rows carry ``_set``, the names of the columns the move changed; only those are written
  (another writer, such as the sweeper claiming a clock, may own the others);
* the case row's UPDATE, guarded by its version and the organisation's, comes first: every other
  part waits for it (``g``), so the row is the lock and the guard, as in a separate statement;
* new clocks and events take their ids from the sequence in the statement and come back with
  their ordinals;
* the rollup change is added with the same upsert as everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from psycopg import _queries as _psycopg_queries
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from engine.case.unit import (
    ASSIGNMENTS,
    CASES,
    DEADLINES,
    EVENTS,
    REQUESTS,
    CaseUnit,
    snapshot_of,
    table_of,
)
from engine.db import UTCDateTime
from engine.organisation.snapshot import version_expr
from engine.rollup.contribution import Contribution
from engine.rollup.models import SHARDS, Rollup
from engine.rollup.store import ROLLUP_KEY, rollup_rows

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
ROLLUPS = table_of(Rollup)


def _q(name: str) -> str:
    return f'"{name}"'


def _columns(table: Table, *, skip: tuple[str, ...] = ()) -> list[str]:
    return [c.name for c in table.columns if c.name not in skip]


def _record(table: Table, columns: Sequence[str], extra: str = "") -> str:
    """The column list of ``jsonb_to_recordset`` for ``columns`` of ``table``."""
    defs = [f"{_q(c)} {table.c[c].type.compile(dialect=_PG)}" for c in columns]
    return ", ".join([*([extra] if extra else []), *defs])


def _insert(table: Table, param: str, where: str = "") -> str:
    cols = _columns(table, skip=("id",))
    names = ", ".join(_q(c) for c in cols)
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x({_record(table, cols)})"
        f" WHERE true{where}"
    )


def _update(
    table: Table,
    param: str,
    where: str = "",
    returning: str = "",
    *,
    extra: str = "id integer, _set jsonb",
) -> str:
    """Changed rows from a JSON array: each writes only the columns its ``_set`` names."""
    cols = _columns(table, skip=("id", "version"))
    sets = [f"{_q(c)} = CASE WHEN x._set ? '{c}' THEN x.{_q(c)} ELSE t.{_q(c)} END" for c in cols]
    if "version" in table.c:
        sets.append("version = t.version + 1")
    return (
        f"UPDATE {table.name} AS t SET {', '.join(sets)} "
        f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x("
        f"{_record(table, cols, extra=extra)}) WHERE t.id = x.id{where}{returning}"
    )


# Every write waits for the guard: the case row is written (and locked) before any child row,
# so two movers of one case queue on the case row and the second finds its version gone.
_GO = " AND (SELECT ok FROM g)"


@cache
def combined_sql() -> str:
    """The one statement. Its rows: ('g', rows the guarded case UPDATE matched, NULL), then
    ('d', ordinal, id) of each new clock and ('e', ordinal, id) of each new event."""
    org = str(version_expr().compile(dialect=_PG, compile_kwargs={"literal_binds": True}))
    clock_cols = _columns(DEADLINES, skip=("id",))
    clock_names = ", ".join(_q(c) for c in clock_cols)
    event_cols = _columns(EVENTS, skip=("id",))
    event_names = ", ".join(_q(c) for c in event_cols)
    key = ", ".join(ROLLUP_KEY)
    rollup_cols = _columns(ROLLUPS)
    rollup_names = ", ".join(_q(c) for c in rollup_cols)

    def numbered(table: Table, cols: list[str], param: str) -> str:
        return (
            f"SELECT x.*, nextval(pg_get_serial_sequence('{table.name}', 'id')) AS _id "
            f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x("
            f"{_record(table, cols, extra='_n integer')}) WHERE (SELECT ok FROM g)"
        )

    parts = [
        "c AS ("
        + _update(
            CASES,
            "c",
            where=f" AND t.version = %(c_version)s::integer AND {org} = %(org)s::integer",
            returning=" RETURNING t.id",
        )
        + ")",
        "g AS MATERIALIZED (SELECT (EXISTS (SELECT 1 FROM c) OR %(free)s::boolean) AS ok)",
        f"a AS ({_update(ASSIGNMENTS, 'a', where=_GO)})",
        f"esrc AS MATERIALIZED ({numbered(EVENTS, event_cols, 'e')})",
        f"e AS (INSERT INTO events (id, {event_names}) SELECT _id, {event_names} FROM esrc)",
        "h AS (UPDATE cases SET event_count = %(h_count)s::integer, last_hash = %(h_hash)s "
        "WHERE id = %(h_id)s::integer)",
        f"dsrc AS MATERIALIZED ({numbered(DEADLINES, clock_cols, 'dn')})",
        f"dn AS (INSERT INTO deadlines (id, {clock_names}) SELECT _id, {clock_names} FROM dsrc)",
        f"dc AS ({_update(DEADLINES, 'dc', where=_GO)})",
        f"rn AS ({_insert(REQUESTS, 'rn', where=_GO)})",
        f"rc AS ({_update(REQUESTS, 'rc', where=_GO)})",
        f"ru AS (INSERT INTO {ROLLUPS.name} ({rollup_names}) SELECT {rollup_names} "
        f"FROM jsonb_to_recordset(%(ru)s::jsonb) AS x({_record(ROLLUPS, rollup_cols)}) "
        f"WHERE (SELECT ok FROM g) "
        f"ON CONFLICT ({key}) DO UPDATE SET value = {ROLLUPS.name}.value + excluded.value)",
    ]
    sql = (
        "WITH "
        + ", ".join(parts)
        + " SELECT 'g', count(*), NULL FROM c"
        + " UNION ALL SELECT 'd', _n, _id FROM dsrc"
        + " UNION ALL SELECT 'e', _n, _id FROM esrc"
    )
    _let_psycopg_keep(sql)
    return sql


def _let_psycopg_keep(sql: str) -> None:
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


def _plain(row: dict[str, Any], table: Table) -> dict[str, Any]:
    """A row's values as JSON can carry them: instants as naive UTC text (the columns' form)."""
    for name in _times(table):
        value = row.get(name)
        if isinstance(value, datetime):
            row[name] = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return row


def _new(rows: Sequence[Any], table: Table) -> list[dict[str, Any]]:
    return [_plain(snapshot_of(r, table), table) for r in rows]


def _changed(changes: Sequence[tuple[int, dict[str, Any]]], table: Table) -> list[dict[str, Any]]:
    return [
        _plain({**values, "id": row_id, "_set": sorted(values)}, table)
        for row_id, values in changes
    ]


def _dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


@cache
def _insert_case_sql() -> str:
    org = str(version_expr().compile(dialect=_PG, compile_kwargs={"literal_binds": True}))
    return _insert(CASES, "c", where=f" AND {org} = %(org)s::integer") + " RETURNING id"


def insert_case_pg(session: Session, unit: CaseUnit) -> int | None:
    """Insert a new case row if the organisation is still at the unit's version: its id, or
    None when the organisation moved on (nothing written)."""
    params = {"c": _dumps(_new([unit.case], CASES)), "org": unit.org_version}
    new_id = session.connection().exec_driver_sql(_insert_case_sql(), params).scalar()
    return None if new_id is None else int(new_id)


def _numbered(rows: Sequence[Any], table: Table) -> list[dict[str, Any]]:
    out = []
    for n, r in enumerate(rows):
        row = _plain(snapshot_of(r, table), table)
        row.pop("id")
        row["_n"] = n
        out.append(row)
    return out


def write_pg(
    session: Session,
    unit: CaseUnit,
    diff: Contribution,
    *,
    case: dict[str, Any] | None,
    assignments: Sequence[tuple[int, dict[str, Any]]] = (),
    clocks: Sequence[tuple[int, dict[str, Any]]] = (),
    requests: Sequence[tuple[int, dict[str, Any]]] = (),
    head: bool = False,
) -> bool:
    """Write the move in one statement: the case row's ``case`` changes guarded by its version
    and the organisation's (``None``: a new case, written already), then every child row.

    False when the guard found the case or the organisation moved on; nothing was written then.
    New clocks and events get their ids.
    """
    loaded = unit.loaded
    row = unit.case
    new_clocks = [d for d in unit.deadlines if id(d) not in loaded]
    params = {
        "c": _dumps(_changed([(row.id, case)], CASES) if case is not None else []),
        "c_version": row.version,
        "org": unit.org_version,
        "free": case is None,
        "a": _dumps(_changed(assignments, ASSIGNMENTS)),
        "e": _dumps(_numbered(unit.events, EVENTS)),
        "h_id": row.id if head else None,
        "h_count": row.event_count,
        "h_hash": row.last_hash,
        "dn": _dumps(_numbered(new_clocks, DEADLINES)),
        "dc": _dumps(_changed(clocks, DEADLINES)),
        "rn": _dumps(_new([r for r in unit.requests if id(r) not in loaded], REQUESTS)),
        "rc": _dumps(_changed(requests, REQUESTS)),
        "ru": _dumps(rollup_rows(diff, row.id % SHARDS) if diff else []),
    }
    matched = 0
    for kind, n, new_id in session.connection().exec_driver_sql(combined_sql(), params):
        if kind == "g":
            matched = n
        elif kind == "d":
            new_clocks[n].id = new_id
        else:
            unit.events[n].id = new_id
    return case is None or matched == 1
