"""Statements compiled once and handed to the driver as they are, for the case's hot path.

SQLAlchemy Core builds every statement here (or, for a multi-row ``VALUES``, the table's own
columns and types do); what is kept is the SQL text, the order of its parameters and each
parameter's bind processor. A step then sends plain tuples through ``exec_driver_sql``: the
engine's events still see every statement (the statement budget counts them), but no cache key
is computed, no parameters are rebuilt by name and no result types are set up — per statement,
the part of SQLAlchemy's execution that costs more than the database's own work on SQLite.

Values come back as the driver gives them (text for times on SQLite); callers that read rows
back either read JSON or compare with what they sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Connection, CursorResult, Integer, Table, any_, bindparam
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    """One statement's text, its parameters in order, and how each value is bound."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    positional: bool
    # Values the statement itself fixed (literals Core bound for it), by parameter name.
    fixed: Mapping[str, Any]

    def bind(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (a tuple, or a dict for named styles)."""
        fixed = self.fixed
        raw = [values[n] if n not in fixed else fixed[n] for n in self.names]
        bound = [
            value if proc is None else proc(value)
            for proc, value in zip(self.processors, raw, strict=True)
        ]
        return tuple(bound) if self.positional else dict(zip(self.names, bound, strict=True))

    def run(self, conn: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self.bind(values))

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """One executemany of ``rows`` (no rows come back)."""
        conn.exec_driver_sql(self.sql, [self.bind(r) for r in rows])


def _processors(binds: Sequence[Any], dialect: Dialect) -> tuple[Processor, ...]:
    return tuple(b.type._cached_bind_processor(dialect) for b in binds)


@cache
def _compiled(stmt: ClauseElement, dialect: Dialect) -> Prepared:
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
    binds = [compiled.binds[n] for n in names]
    return Prepared(
        sql=compiled.string,
        names=names,
        processors=_processors(binds, dialect),
        positional=positional,
        fixed={n: b.effective_value for n, b in zip(names, binds, strict=True) if not b.required},
    )


def prepared(stmt: ClauseElement, dialect: Dialect) -> Prepared:
    """``stmt`` compiled for ``dialect`` once per process (``stmt`` must itself be cached)."""
    return _compiled(stmt, _canonical(dialect))


_DIALECTS: dict[tuple[str, str], Dialect] = {}


def _canonical(dialect: Dialect) -> Dialect:
    """One dialect object per backend and driver, so the cache keys stay few."""
    return _DIALECTS.setdefault((dialect.name, dialect.driver), dialect)


@dataclass(frozen=True)
class RowsInsert:
    """A multi-row ``INSERT … VALUES (…), (…) RETURNING`` for a given number of rows (SQLite)."""

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Processor, ...]

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """Send ``rows``; the driver's result (``lastrowid`` for an INSERT without RETURNING)."""
        return conn.exec_driver_sql(self.sql, tuple(v for row in rows for v in self.bound(row)))

    def bound(self, row: Mapping[str, Any]) -> list[Any]:
        """The values of ``row`` as this statement sends them (what the database stores)."""
        return [
            value if proc is None else proc(value)
            for proc, value in zip(self.processors, map(row.__getitem__, self.columns), strict=True)
        ]

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Send ``rows``; the rows RETURNING gives back."""
        return list(self.execute(conn, rows).fetchall())


@cache
def rows_insert(
    table: Table,
    columns: tuple[str, ...],
    count: int,
    dialect: Dialect,
    *,
    upsert: bool,
    returning: tuple[str, ...],
) -> RowsInsert:
    """``count`` rows of ``columns`` into ``table`` (an upsert by id when ``upsert``), returning
    ``returning`` of each (nothing when it is empty); SQLite's positional style."""
    quote = dialect.identifier_preparer.quote
    one = "(" + ", ".join("?" for _ in columns) + ")"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join(one for _ in range(count))}"
    )
    if upsert:
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c != "id")
        sql += f" ON CONFLICT ({quote('id')}) DO UPDATE SET {sets}"
    if returning:
        sql += f" RETURNING {', '.join(quote(c) for c in returning)}"
    return RowsInsert(
        sql=sql,
        columns=columns,
        processors=tuple(table.c[c].type._cached_bind_processor(dialect) for c in columns),
    )


def id_among(
    column: ColumnElement[int] | QueryableAttribute[int], ids: Sequence[int], dialect: str
) -> ColumnElement[bool]:
    """``column IN ids``: on PostgreSQL one array parameter (``= ANY``), so the statement's text
    and its one parameter stay the same whatever the number of ids (psycopg keeps its conversion
    of such a statement; an IN list of hundreds of parameters is converted afresh each time)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


# Rows per multi-row INSERT on SQLite (well under its limit of bound parameters).
ROWS_PER_INSERT = 200


def insert_returning_ids(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]
) -> list[Any]:
    """SQLite: ``rows`` (all with the same columns, no id) in multi-row INSERTs; their new ids,
    in the order of ``rows``.

    RETURNING gives rows back in no set order, so each is matched to a row sent by ``keys``,
    compared as sent (what the database stores). Rows alike in all of ``keys`` must be alike in
    every column that matters, so either id fits either row.
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    at = [columns.index(k) for k in keys]
    ids: list[Any] = [None] * len(rows)
    for start in range(0, len(rows), ROWS_PER_INSERT):
        part = rows[start : start + ROWS_PER_INSERT]
        stmt = rows_insert(
            table, columns, len(part), conn.dialect, upsert=False, returning=("id", *keys)
        )
        # Each value bound once: the keys are looked for among the values as sent.
        flat: list[Any] = []
        waiting: dict[tuple[Any, ...], list[int]] = {}
        for n, row in enumerate(part, start):
            sent = stmt.bound(row)
            flat += sent
            waiting.setdefault(tuple(sent[i] for i in at), []).append(n)
        for new_id, *key in conn.exec_driver_sql(stmt.sql, tuple(flat)):
            ids[waiting[tuple(key)].pop()] = new_id
    return ids
