"""PostgreSQL: the moves of many cases written by one statement (an escalation job's batch).

The same shape as ``engine/case/pg_write.py``, for many cases at once: each case row carries its
own version, and the guarded ``UPDATE`` of the case rows comes first; every child row (changed
assignments, clocks and requests, new events, clocks and requests, the rollup change) is written
only if its case's row was (``IN (SELECT id FROM c)``). The statement answers which cases it
wrote; a case it did not write (its version or the organisation's moved on) has none of its rows
written either, and the caller rolls the batch back and runs it again without that case.

One statement for the batch instead of one per case: the server plans and starts one executor,
and the client waits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from engine.case.pg_rows import (
    PG,
    ROLLUPS,
    changed_rows,
    columns_of,
    dumps,
    keep_converted,
    new_rows,
    numbered,
    quote,
    record,
    update_sql,
)
from engine.case.unit import ASSIGNMENTS, CASES, DEADLINES, EVENTS, REQUESTS, CaseUnit
from engine.organisation.snapshot import version_expr
from engine.rollup.contribution import Contribution
from engine.rollup.models import SHARDS
from engine.rollup.store import ROLLUP_KEY, rollup_rows

_WRITTEN = " AND x._case IN (SELECT id FROM c)"


@dataclass(frozen=True, slots=True)
class CaseWrite:
    """What one case's move changed, as ``engine/case/writer.py`` found it."""

    unit: CaseUnit
    diff: Contribution
    case: dict[str, Any]
    assignments: Sequence[tuple[int, dict[str, Any]]]
    clocks: Sequence[tuple[int, dict[str, Any]]]
    requests: Sequence[tuple[int, dict[str, Any]]]


def _insert(table: Table, param: str) -> str:
    cols = columns_of(table, skip=("id",))
    names = ", ".join(quote(c) for c in cols)
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x({record(table, cols)})"
        " WHERE x.case_id IN (SELECT id FROM c)"
    )


def _numbered_source(table: Table, param: str) -> str:
    cols = columns_of(table, skip=("id",))
    return (
        f"SELECT x.*, nextval(pg_get_serial_sequence('{table.name}', 'id')) AS _id "
        f"FROM jsonb_to_recordset(%({param})s::jsonb) AS x("
        f"{record(table, cols, extra='_n integer')}) WHERE x.case_id IN (SELECT id FROM c)"
    )


@cache
def batch_sql() -> str:
    """The one statement. Its rows: ('c', id, NULL) of each case written, then ('d', ordinal,
    id) of each new clock and ('e', ordinal, id) of each new event."""
    org = str(version_expr().compile(dialect=PG, compile_kwargs={"literal_binds": True}))
    clock_names = ", ".join(quote(c) for c in columns_of(DEADLINES, skip=("id",)))
    event_names = ", ".join(quote(c) for c in columns_of(EVENTS, skip=("id",)))
    key = ", ".join(ROLLUP_KEY)
    changed = "id integer, _set jsonb, _case integer"
    parts = [
        "c AS ("
        + update_sql(
            CASES,
            "c",
            extra="id integer, _set jsonb, _version integer",
            where=f" AND t.version = x._version AND {org} = %(org)s::integer",
            returning=" RETURNING t.id",
        )
        + ")",
        f"a AS ({update_sql(ASSIGNMENTS, 'a', extra=changed, where=_WRITTEN)})",
        f"esrc AS MATERIALIZED ({_numbered_source(EVENTS, 'e')})",
        f"e AS (INSERT INTO events (id, {event_names}) SELECT _id, {event_names} FROM esrc)",
        f"dsrc AS MATERIALIZED ({_numbered_source(DEADLINES, 'dn')})",
        f"dn AS (INSERT INTO deadlines (id, {clock_names}) SELECT _id, {clock_names} FROM dsrc)",
        f"dc AS ({update_sql(DEADLINES, 'dc', extra=changed, where=_WRITTEN)})",
        f"rn AS ({_insert(REQUESTS, 'rn')})",
        f"rc AS ({update_sql(REQUESTS, 'rc', extra=changed, where=_WRITTEN)})",
        # One row per key (two cases may share one), in the key order every writer uses.
        f"ru AS (INSERT INTO {ROLLUPS.name} ({key}, value) SELECT {key}, sum(x.value) "
        f"FROM jsonb_to_recordset(%(ru)s::jsonb) AS x("
        f"{record(ROLLUPS, list(columns_of(ROLLUPS)), extra='_case integer')}) "
        f"WHERE x._case IN (SELECT id FROM c) GROUP BY {key} ORDER BY {key} "
        f"ON CONFLICT ({key}) DO UPDATE SET value = {ROLLUPS.name}.value + excluded.value)",
    ]
    sql = (
        "WITH "
        + ", ".join(parts)
        + " SELECT 'c', id, NULL FROM c"
        + " UNION ALL SELECT 'd', _n, _id FROM dsrc"
        + " UNION ALL SELECT 'e', _n, _id FROM esrc"
    )
    keep_converted(sql)
    return sql


def _tagged(changes: Sequence[tuple[int, dict[str, Any]]], table: Table, case_id: int) -> list[Any]:
    return [{**row, "_case": case_id} for row in changed_rows(changes, table)]


def write_many_pg(session: Session, writes: Sequence[CaseWrite]) -> set[int]:
    """Write every case's move in one statement; the ids of the cases written (a case missing
    from it had its version or the organisation's move on, and none of its rows was written).
    New clocks and events get their ids."""
    org_versions = {w.unit.org_version for w in writes}
    if len(org_versions) != 1:
        raise ValueError("write_many_pg: the units saw different organisation versions")
    cases, assignments, clocks, requests, rollups = [], [], [], [], []
    new_events: list[Any] = []
    new_clocks: list[Any] = []
    new_requests: list[Any] = []
    for w in writes:
        unit, case_id = w.unit, w.unit.case.id
        (case_row,) = changed_rows([(case_id, w.case)], CASES)
        cases.append({**case_row, "_version": unit.case.version})
        assignments += _tagged(w.assignments, ASSIGNMENTS, case_id)
        clocks += _tagged(w.clocks, DEADLINES, case_id)
        requests += _tagged(w.requests, REQUESTS, case_id)
        new_events += unit.events
        new_clocks += [d for d in unit.deadlines if id(d) not in unit.loaded]
        new_requests += [r for r in unit.requests if id(r) not in unit.loaded]
        if w.diff:
            rollups += [{**r, "_case": case_id} for r in rollup_rows(w.diff, case_id % SHARDS)]
    events = numbered(new_events, EVENTS)
    params = {
        "c": dumps(cases),
        "org": org_versions.pop(),
        "a": dumps(assignments),
        "e": dumps(events),
        "dn": dumps(numbered(new_clocks, DEADLINES)),
        "dc": dumps(clocks),
        "rn": dumps(new_rows(new_requests, REQUESTS)),
        "rc": dumps(requests),
        "ru": dumps(rollups),
    }
    written: set[int] = set()
    for kind, n, new_id in session.connection().exec_driver_sql(batch_sql(), params):
        if kind == "c":
            written.add(n)
        elif kind == "d":
            new_clocks[n].id = new_id
        else:
            new_events[n].id = new_id
    return written
