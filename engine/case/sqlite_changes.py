"""SQLite: a move's changed rows of several tables and its rollup change in one statement.

SQLite has no data-modifying CTEs, so a writer sends one statement per table it touches. Rows the
move *changed* need no id back, so they can travel together: each connection gets a temporary
view, ``temp.whistle_changes``, with one column per table, and per column an ``INSTEAD OF
INSERT`` trigger that applies what one inserted row carries there (skipped when it is null):

* for each of assignments, deadlines and case requests, a JSON array of ``{"id": …, column: value}``
  objects — only the columns the move changed, so a column the sweeper owns (a clock's claim) is
  left as it is; a row with a ``version`` has it bumped, as the per-table UPDATE did;
* a JSON array of rollup rows ``[level, unit_id, month, metric, shard, value]``, added with the
  evaluation's own upsert (``value = value + excluded.value``).

Values are the driver's values (each column's bind processor applied first), so the stored text
of a time, a flag or a JSON document is what the per-table statements stored. Two kinds of changed
row are left to the caller's per-table UPDATE (``usable`` says which): one holding a float, since
SQLite's JSON reader does not give back every double exactly, and one changing a column that ties
the row to its owners (case, assignment, department), which the trigger does not set so that
SQLite leaves the indexes on them alone. The view lives in the connection's ``temp`` schema and
is made the first time the connection writes outside a transaction (DDL inside one would be
undone by its rollback); until then the caller writes table by table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import sqlite

from engine.case.unit import ASSIGNMENTS, CASES, DEADLINES, REQUESTS
from engine.organisation.snapshot import version_expr
from engine.rollup.models import Rollup
from engine.rollup.store import ROLLUP_KEY

VIEW = "whistle_changes"
# The tables whose changed rows the view takes (the rows of one move touch each table once, so
# the order in which SQLite fires the triggers does not matter).
TABLES: tuple[Table, ...] = (ASSIGNMENTS, DEADLINES, REQUESTS)
_ROLLUP_TABLE = Rollup.__tablename__
_ROLLUP_COLUMNS = (*ROLLUP_KEY, "value")
_INSTALLED = "whistle_changes_view"
_DIALECT = sqlite.dialect()


def _q(name: str) -> str:
    return str(_DIALECT.identifier_preparer.quote(name))


def _path(column: str) -> str:
    return "'$.\"" + column + "\"'"


# Columns that tie a row to its owners; a move does not change them, and leaving them out of the
# trigger's SET lets SQLite skip the indexes on them. A change to one goes by the table's UPDATE.
_OWNERS = frozenset({"id", "version", "case_id", "assignment_id", "org_id"})


@cache
def _settable(table: Table) -> frozenset[str]:
    """The columns the trigger's UPDATE of ``table`` can set."""
    return frozenset(c.name for c in table.columns if c.name not in _OWNERS)


def _update_from_json(table: Table) -> str:
    """UPDATE the rows listed in the view's column for ``table``, each in the columns it lists."""
    t = _q(table.name)
    sets = [
        f"{_q(c.name)} = CASE WHEN json_type(r.value, {_path(c.name)}) IS NULL "
        f"THEN {t}.{_q(c.name)} ELSE json_extract(r.value, {_path(c.name)}) END"
        for c in table.columns
        if c.name in _settable(table)
    ]
    if "version" in table.c:
        sets.append(f"{_q('version')} = {t}.{_q('version')} + 1")
    return (
        f"UPDATE {t} SET {', '.join(sets)} FROM json_each(NEW.{t}) AS r "
        f"WHERE {t}.{_q('id')} = json_extract(r.value, '$.id');"
    )


def _rollup_upsert() -> str:
    t = _q(_ROLLUP_TABLE)
    columns = ", ".join(_q(c) for c in _ROLLUP_COLUMNS)
    values = ", ".join(f"json_extract(r.value, '$[{i}]')" for i in range(len(_ROLLUP_COLUMNS)))
    # "WHERE 1" tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
    return (
        f"INSERT INTO {t} ({columns}) SELECT {values} FROM json_each(NEW.{t}) AS r WHERE 1 "
        f"ON CONFLICT ({', '.join(_q(c) for c in ROLLUP_KEY)}) "
        f"DO UPDATE SET {_q('value')} = {t}.{_q('value')} + excluded.{_q('value')};"
    )


@cache
def ddl() -> tuple[str, ...]:
    """The statements that make the view and its triggers in a connection's ``temp`` schema:
    one trigger per column, which SQLite skips when that column is null (a move that changed no
    row of a table pays nothing for it)."""
    parts = [(t.name, _update_from_json(t)) for t in TABLES] + [(_ROLLUP_TABLE, _rollup_upsert())]
    columns = ", ".join(_q(name) for name, _ in parts)
    nulls = ", ".join("NULL" for _ in parts)
    return (
        f"CREATE TEMP VIEW IF NOT EXISTS {VIEW} ({columns}) AS SELECT {nulls}",
        *(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {VIEW}_{name} INSTEAD OF INSERT ON {VIEW} "
            f"WHEN NEW.{_q(name)} IS NOT NULL\nBEGIN\n{body}\nEND"
            for name, body in parts
        ),
    )


# json.dumps with ensure_ascii=False builds an encoder per call; one kept encoder writes the same.
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_INSERT = f"INSERT INTO temp.{VIEW} VALUES ({', '.join('?' for _ in (*TABLES, _ROLLUP_TABLE))})"


def ready(conn: Connection) -> bool:
    """Whether ``conn`` has the view, making it now if the connection is between transactions."""
    info = conn.info
    if info.get(_INSTALLED):
        return True
    dbapi = conn.connection.dbapi_connection
    if dbapi is None or getattr(dbapi, "in_transaction", True):
        return False
    for statement in ddl():
        conn.exec_driver_sql(statement)
    info[_INSTALLED] = True
    return True


@cache
def _processors(table: Table) -> dict[str, Any]:
    return {c.name: c.type._cached_bind_processor(_DIALECT) for c in table.columns}


def usable(table: Table, values: Mapping[str, Any]) -> bool:
    """Whether the view can write a changed row of ``table``: every changed column is one its
    trigger sets, and no value is a float (JSON would not carry every double exactly)."""
    return _settable(table).issuperset(values) and not any(
        isinstance(v, float) for v in values.values()
    )


def send(
    conn: Connection,
    changed: Mapping[Table, Sequence[tuple[int, Mapping[str, Any]]]],
    rollups: Sequence[Mapping[str, Any]],
) -> None:
    """Apply the changed rows of ``TABLES`` and add ``rollups``, in one statement.

    ``changed`` maps a table to ``(id, changed columns)`` pairs that pass ``usable``;
    ``rollups`` are rows as ``engine.rollup.store.rollup_rows`` gives them.
    """
    params: list[str | None] = []
    for table in TABLES:
        rows = changed.get(table)
        if not rows:
            params.append(None)
            continue
        procs = _processors(table)
        docs = []
        for row_id, values in rows:
            doc: dict[str, Any] = {"id": row_id}
            for name, value in values.items():
                proc = procs[name]
                doc[name] = value if proc is None else proc(value)
            docs.append(doc)
        params.append(_ENCODER.encode(docs))
    params.append(
        _ENCODER.encode([[r[c] for c in _ROLLUP_COLUMNS] for r in rollups]) if rollups else None
    )
    conn.exec_driver_sql(_INSERT, tuple(params))


# -- the case rows of a batch ---------------------------------------------------------------------


@cache
def _cases_sql(columns: tuple[str, ...]) -> str:
    """UPDATE the case rows listed in a JSON array that are still at the version each names,
    if the organisation is at the one given, in ``columns``; the ids of the rows written."""
    t = _q(CASES.name)
    sets = [f"{_q(c)} = json_extract(r.value, {_path(c)})" for c in columns]
    sets.append(f"{_q('version')} = {t}.{_q('version')} + 1")
    org = str(version_expr().compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
    # json_each has a column named "id" too: the table's are qualified.
    return (
        f"UPDATE {t} SET {', '.join(sets)} FROM json_each(?) AS r "
        f"WHERE {t}.{_q('id')} = json_extract(r.value, '$.\"_id\"') "
        f"AND {t}.{_q('version')} = json_extract(r.value, '$.\"_version\"') AND {org} = ? "
        f"RETURNING {t}.{_q('id')}"
    )


def case_rows_usable(values: Mapping[str, Any]) -> bool:
    """Whether ``write_cases`` can write a case row's changed columns (no float: JSON would not
    carry every double exactly)."""
    return not any(isinstance(v, float) for v in values.values()) and _settable_cases().issuperset(
        values
    )


@cache
def _settable_cases() -> frozenset[str]:
    return frozenset(c.name for c in CASES.columns if c.name not in ("id", "version"))


def write_cases(
    conn: Connection, rows: Sequence[tuple[int, int, Mapping[str, Any]]], org_version: int
) -> set[int]:
    """The guarded UPDATE of many case rows — ``(id, version it was loaded at, changed
    columns)``, each passing ``case_rows_usable`` — one statement per set of changed columns;
    the ids of the rows written (a row whose version, or the organisation's, moved on is not)."""
    procs = _processors(CASES)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, version, values in rows:
        doc: dict[str, Any] = {"_id": row_id, "_version": version}
        for name, value in values.items():
            proc = procs[name]
            doc[name] = value if proc is None else proc(value)
        groups.setdefault(tuple(sorted(values)), []).append(doc)
    written: set[int] = set()
    for columns, docs in groups.items():
        result = conn.exec_driver_sql(_cases_sql(columns), (_ENCODER.encode(docs), org_version))
        written.update(row_id for (row_id,) in result)
    return written
