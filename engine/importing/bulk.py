"""The bulk writer: planned cases written in batches, with the ids taken before writing.

Ids come from the sequence on PostgreSQL and, under the write lock, after the highest one on
SQLite, so every row, hash and rollup is final when inserted (no second pass). Rows go in through
the driver — COPY on PostgreSQL, executemany on SQLite — with each column's own bind processor
from SQLAlchemy, so they are stored exactly as the ORM would store them. Rollups are added with
the evaluation's own upsert, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, String, Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.db import UTCDateTime
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.importing.plan import CasePlan, JsonText
from engine.rollup.contribution import Contribution
from engine.rollup.models import SHARDS
from engine.rollup.store import add_to_rollups


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


CASES, ASSIGNMENTS, EVENTS, DEADLINES = (_table(m) for m in (Case, Assignment, Event, Deadline))


def lock_for_writing(session: Session) -> None:
    """Take the database's write lock now (SQLite), so that ids read below stay ours."""
    if session.get_bind().dialect.name == "sqlite":
        # A write that changes nothing still opens the write transaction and holds the lock.
        session.execute(update(CASES).where(CASES.c.id < 0).values(id=CASES.c.id))


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table`` (call ``lock_for_writing`` first on SQLite)."""
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sequence = session.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        rows = session.execute(
            text("SELECT nextval(:seq) FROM generate_series(1, :n)"),
            {"seq": sequence, "n": count},
        )
        return sorted(int(v) for v in rows.scalars())
    start = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return list(range(start, start + count))


def present_refs(session: Session, source: str, refs: Sequence[str]) -> set[str]:
    """Which of ``refs`` already have a case from ``source`` (one statement).

    On PostgreSQL the refs go in as one array, joined to the cases by their unique index: an
    ``IN`` of thousands of parameters is prepared after a few batches, and its generic plan
    compares every case of the source against the whole list (seconds per batch once the table
    holds some 40,000 imported cases). SQLite looks each value of an ``IN`` list up in the index.
    """
    if not refs:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam("refs", list(refs), type_=ARRAY(String))
        wanted = func.unnest(array).table_valued("ref").render_derived()
        stmt = select(CASES.c.source_ref).join(
            wanted, (CASES.c.source == source) & (CASES.c.source_ref == wanted.c.ref)
        )
    else:
        stmt = select(CASES.c.source_ref).where(
            CASES.c.source == source, CASES.c.source_ref.in_(refs)
        )
    return {ref for ref in session.scalars(stmt) if ref is not None}


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    times: dict[Any, Any] | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` through the driver.

    ``times`` remembers converted times across calls: an opening time recurs in half a dozen
    rows of its case, and every time column converts alike (``UTCDateTime``).
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = [c.name for c in table.columns if c.name in rows[0]]
    if len(names) != len(rows[0]):
        raise ValueError(f"{table.name}: no such column among {sorted(set(rows[0]) - set(names))}")
    values = _stored_values(table, names, dialect, {} if times is None else times)
    quote = dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(values(row))
        else:
            marks = ", ".join("?" for _ in names)
            cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", [values(r) for r in rows])
    finally:
        cursor.close()


def _stored_values(
    table: Table, names: Sequence[str], dialect: Dialect, times: dict[Any, Any]
) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A row's values in ``names`` order, as each column's bind processor would send them.

    Enum members are str subclasses: both drivers store them as their text. Every processor
    takes None to None except JSON's (to 'null'); JSON the plan serialised (``JsonText``) goes
    in as it is.
    """
    time_columns, json_columns, converters = _processors(table, names, dialect)
    pick = itemgetter(*names)

    def values(row: Mapping[str, Any]) -> list[Any]:
        out = list(pick(row))
        for index, processor in time_columns:
            moment = out[index]
            if moment is not None:
                stored = times.get(moment)
                if stored is None:
                    stored = times[moment] = processor(moment)
                out[index] = stored
        for index, processor in converters:
            if out[index] is not None:
                out[index] = processor(out[index])
        for index, processor in json_columns:
            if type(out[index]) is not JsonText:
                out[index] = processor(out[index])
        return out

    return values


Processors = list[tuple[int, Callable[[Any], Any]]]


def _processors(
    table: Table, names: Sequence[str], dialect: Dialect
) -> tuple[Processors, Processors, Processors]:
    """(index, bind processor) of the time columns, the JSON columns and the other columns."""
    times: Processors = []
    json: Processors = []
    others: Processors = []
    for index, name in enumerate(names):
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            if isinstance(column_type, UTCDateTime):
                times.append((index, processor))
            elif isinstance(column_type, JSON):
                json.append((index, processor))
            else:
                others.append((index, processor))
    return times, json, others


def write_plans(session: Session, plans: Sequence[CasePlan], rollups: Contribution) -> None:
    """Insert the planned rows and add ``rollups``, their contributions summed (no commit).

    Live writers spread over the rollup shards so as not to wait on one another; a batch is one
    writer, and one shard keeps its upsert to the fewest rows. Readers sum the shards either way.
    """
    if not plans:
        return
    times: dict[Any, Any] = {}
    insert_rows(session, CASES, [p.case for p in plans], times=times)
    insert_rows(session, ASSIGNMENTS, [a for p in plans for a in p.assignments], times=times)
    insert_rows(session, EVENTS, [e for p in plans for e in p.events], times=times)
    insert_rows(session, DEADLINES, [d for p in plans for d in p.deadlines], times=times)
    add_to_rollups(session, rollups, shard=plans[0].case["id"] % SHARDS)
