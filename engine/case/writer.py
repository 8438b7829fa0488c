"""The one writer of the case aggregate: a unit's changes persisted by a few Core statements.

A move is decided in memory (``engine/case/unit.py``, ``engine/case/moves.py``); this module
compares every row with what it held at load and writes only the difference:

* new assignments first when a dispatch made some (their ids go into the events and clocks);
* the case row, guarded by its version and by the organisation's version: a writer that finds
  either moved on writes nothing and raises ``ConcurrentChange`` (the use case then runs again on
  fresh rows); the row is also the head of the case's event chain;
* the changed assignments, clocks and requests and the rollup change (the evaluation's own
  upsert) — on SQLite one statement through a view (``engine/case/sqlite_changes.py``);
* new events, clocks and requests — one multi-row INSERT per table, whose ids come back.

That is SQLite's way: SQLAlchemy Core statements, compiled once per shape and cached. On
PostgreSQL the case row and everything after it are one statement (``engine/case/pg_write.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.assignment.models import Assignment
from engine.case import sqlite_changes
from engine.case.models import Case, CaseRequest
from engine.case.pg_batch import CaseWrite, write_many_pg
from engine.case.pg_write import insert_case_pg, write_pg
from engine.case.unit import (
    ASSIGNMENTS,
    CASES,
    DEADLINES,
    EVENTS,
    REQUESTS,
    CaseUnit,
    changed_columns,
    snapshot_of,
)
from engine.db import begin_writes, commits_itself
from engine.deadline.models import Deadline
from engine.driver_sql import insert_returning_ids, prepared, rows_insert
from engine.errors import ConcurrentChange
from engine.event.service import seal
from engine.organisation.snapshot import version_expr
from engine.rollup.contribution import Contribution
from engine.rollup.models import SHARDS
from engine.rollup.store import add_to_rollups, rollup_rows
from engine.uow import lost

# Keys of event payloads that name assignments (so new assignments' stand-in ids are replaced).
_ID_KEYS = ("assignment_id",)
_ID_LIST_KEYS = ("assignments",)


def _changes(row: Any, table: Table, before: dict[str, Any] | None) -> dict[str, Any]:
    if before is None:
        return snapshot_of(row, table)
    return changed_columns(row, table, before)


@cache
def _update_by_id(table: Table, columns: tuple[str, ...], bump: bool) -> Any:
    stmt = update(table).where(table.c.id == bindparam("_id"))
    values: dict[str, Any] = {c: bindparam(c, type_=table.c[c].type) for c in columns}
    if bump:
        values["version"] = table.c.version + 1
    return stmt.values(values)


@cache
def _guarded_case_update(columns: tuple[str, ...]) -> Any:
    return (
        update(CASES)
        .where(
            CASES.c.id == bindparam("_id"),
            CASES.c.version == bindparam("_version"),
            version_expr() == bindparam("_org"),
        )
        .values(
            {
                **{c: bindparam(c, type_=CASES.c[c].type) for c in columns},
                "version": CASES.c.version + 1,
            }
        )
    )


# What tells apart the new rows of one move, to give each the id the database chose. Rows that
# agree on all of these are alike in every column that matters, so either id fits either row.
# The case's id is among them, so the rows of several cases can go in one INSERT (SQLite's batch).
_MATCH: dict[str, tuple[str, ...]] = {
    "assignments": ("org_id", "role"),
    "events": ("case_id", "seq"),
    "deadlines": (
        "case_id", "clock", "assignment_id", "state", "started_at", "closed_at", "due_at",
    ),
    "case_requests": ("case_id", "kind", "assignment_id", "status"),
}  # fmt: skip


@cache
def _inserting(table: Table) -> Any:
    """The INSERT that returns the id and the match keys."""
    keys = _MATCH[table.name]
    return insert(table).returning(table.c.id, *(table.c[k] for k in keys))


def _insert(conn: Connection, table: Table, rows: Sequence[Any]) -> None:
    """Insert new rows in one statement; the ids the database chose are set on the rows."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        _insert_core(conn, table, rows)
        return
    values = []
    for row in rows:
        data = snapshot_of(row, table)
        data["id"] = None  # SQLite gives a NULL integer key the next rowid
        values.append(data)
    columns = tuple(values[0])
    if len(rows) == 1:
        # One row: its id is the connection's last rowid, so nothing needs to come back (a
        # result with rows costs SQLAlchemy more than the INSERT costs SQLite).
        one = rows_insert(table, columns, 1, conn.dialect, upsert=False, returning=())
        rows[0].id = one.execute(conn, values).lastrowid
        return
    ids = insert_returning_ids(conn, table, values, _MATCH[table.name])
    for row, new_id in zip(rows, ids, strict=True):
        row.id = new_id


def _insert_core(conn: Connection, table: Table, rows: Sequence[Any]) -> None:
    """``_insert`` through SQLAlchemy's own executemany (any backend)."""
    values = []
    for row in rows:
        data = snapshot_of(row, table)
        data.pop("id")
        values.append(data)
    keys = _MATCH[table.name]
    waiting: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        waiting.setdefault(tuple(getattr(row, k) for k in keys), []).append(row)
    # An executemany of one cached statement: SQLAlchemy sends it as one multi-row INSERT
    # ("insertmanyvalues"); the rows come back in no set order, so each is matched by its keys.
    for new_id, *key in conn.execute(_inserting(table), values):
        waiting[tuple(key)].pop().id = new_id


def _update(conn: Connection, table: Table, changed: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Update changed rows, one executemany per set of changed columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in changed:
        columns = tuple(sorted(values))
        groups.setdefault(columns, []).append({"_id": row_id, **values})
    bump = "version" in table.c
    for columns, params in groups.items():
        prepared(_update_by_id(table, columns, bump), conn.dialect).run_many(conn, params)


def _replace_stand_ins(unit: CaseUnit, real: dict[int, int]) -> None:
    """Put the stored ids of new assignments wherever the move used their stand-ins."""
    if not real:
        return
    for d in unit.deadlines:
        if d.assignment_id in real:
            d.assignment_id = real[d.assignment_id]
    for r in unit.requests:
        if r.assignment_id in real:
            r.assignment_id = real[r.assignment_id]
    for e in unit.events:
        if e.assignment_id in real:
            e.assignment_id = real[e.assignment_id]
        payload = dict(e.payload or {})
        for key in _ID_KEYS:
            if payload.get(key) in real:
                payload[key] = real[payload[key]]
        for key in _ID_LIST_KEYS:
            if isinstance(payload.get(key), list):
                payload[key] = [real.get(v, v) for v in payload[key]]
        e.payload = payload


def write(session: Session, unit: CaseUnit, diff: Contribution, *, last: bool = False) -> None:
    """Persist what the move changed; raise ``ConcurrentChange`` if the case moved on.

    New rows get their stored ids (clocks and events included: an escalation step records its
    event's). ``last``: the use case writes nothing after this; if the write is then one
    statement, on a connection in autocommit (``engine.db.reads_autocommit``), it commits by
    itself; otherwise the writes open a transaction that the use case's commit ends.
    """
    loaded = unit.loaded
    new_assignments = [a for a in unit.assignments if id(a) not in loaded]
    alone = last and not new_assignments and not _has_pending(session)
    if not alone:
        begin_writes(session)
    _flush_pending(session)
    # One connection for the whole write: the session's, asked for once.
    conn = session.connection()
    dialect = conn.dialect.name
    viewed = dialect == "sqlite" and sqlite_changes.ready(conn)
    real: dict[int, int] = {}
    if new_assignments:
        stand_ins = [a.id for a in new_assignments]
        _insert(conn, ASSIGNMENTS, new_assignments)
        real = dict(zip(stand_ins, (a.id for a in new_assignments), strict=True))
        _replace_stand_ins(unit, real)
    case_changes, changed = _sealed_changes(unit)
    if dialect == "postgresql":
        with _lost_at_commit(alone and commits_itself(session)):
            held = write_pg(
                session, unit, diff, case=case_changes, assignments=changed,
                clocks=_changed_rows(unit, DEADLINES, unit.deadlines),
                requests=_changed_rows(unit, REQUESTS, unit.requests),
            )  # fmt: skip
        if not held:
            raise ConcurrentChange(f"case {unit.case.id} changed under this move")
    else:
        if not _guarded_case_write(conn, unit, case_changes):
            raise ConcurrentChange(f"case {unit.case.id} changed under this move")
        _write_children_sqlite(session, conn, [(unit, diff, changed)], viewed=viewed)
    _written(session, unit, changed)


@contextmanager
def _lost_at_commit(commits: bool) -> Iterator[None]:
    """A statement that commits by itself is its use case's commit: a connection lost under it
    may have lost it before or after it was made, and the error says so (as at a commit)."""
    try:
        yield
    except DBAPIError as exc:
        if commits and exc.connection_invalidated:
            raise lost("the write", at_commit=True) from exc
        raise


def _guarded_case_write(conn: Connection, unit: CaseUnit, case_changes: dict[str, Any]) -> bool:
    """SQLite: the case row, if it and the organisation are still at the versions the move saw."""
    result = prepared(_guarded_case_update(tuple(sorted(case_changes))), conn.dialect).run(
        conn,
        {
            **case_changes,
            "_id": unit.case.id,
            "_version": unit.case.version,
            "_org": unit.org_version,
        },
    )
    return bool(result.rowcount == 1)


_Written = tuple[CaseUnit, Contribution, list[tuple[int, dict[str, Any]]]]


def _write_children_sqlite(
    session: Session, conn: Connection, moves: Sequence[_Written], *, viewed: bool
) -> None:
    """SQLite: after the case rows of ``moves`` (unit, rollup change, changed assignments): their
    changed and new rows, the moves of all the cases together."""
    changed: dict[Table, list[tuple[int, dict[str, Any]]]] = {
        ASSIGNMENTS: [], DEADLINES: [], REQUESTS: [],
    }  # fmt: skip
    rollups: list[dict[str, Any]] = []
    events, clocks, requests = [], [], []
    for unit, diff, assignments in moves:
        loaded = unit.loaded
        changed[ASSIGNMENTS] += assignments
        changed[DEADLINES] += _changed_rows(unit, DEADLINES, unit.deadlines)
        changed[REQUESTS] += _changed_rows(unit, REQUESTS, unit.requests)
        if diff:
            rollups += rollup_rows(diff, unit.case.id % SHARDS)
        events += unit.events
        clocks += [d for d in unit.deadlines if id(d) not in loaded]
        requests += [r for r in unit.requests if id(r) not in loaded]
    _write_changed_sqlite(session, conn, moves, changed, rollups, viewed=viewed)
    _insert(conn, EVENTS, events)
    _insert(conn, DEADLINES, clocks)
    _insert(conn, REQUESTS, requests)


def _write_changed_sqlite(
    session: Session,
    conn: Connection,
    moves: Sequence[_Written],
    changed: dict[Table, list[tuple[int, dict[str, Any]]]],
    rollups: list[dict[str, Any]],
    *,
    viewed: bool,
) -> None:
    """SQLite: the changed assignments, clocks and requests and the rollup change — in one
    statement through ``temp.whistle_changes`` when the connection has it, else table by table.
    A row the view cannot write (``sqlite_changes.usable``) goes by its table's UPDATE."""
    if viewed:
        usable = sqlite_changes.usable
        by_json: dict[Table, list[tuple[int, dict[str, Any]]]] = {}
        by_table: dict[Table, list[tuple[int, dict[str, Any]]]] = {}
        for table, rows in changed.items():
            for r in rows:
                (by_json if usable(table, r[1]) else by_table).setdefault(table, []).append(r)
        if by_json or rollups:
            sqlite_changes.send(conn, by_json, rollups)
        for table, rows in by_table.items():
            _update(conn, table, rows)
        return
    for table, rows in changed.items():
        _update(conn, table, rows)
    for unit, diff, _ in moves:
        if diff:
            add_to_rollups(session, diff, shard=unit.case.id % SHARDS)


def _sealed_changes(unit: CaseUnit) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """Link the move's events into the chain; the case's changed columns and changed
    assignments."""
    seal(unit.case, unit.events)
    case_changes = _changes(unit.case, CASES, unit.loaded[id(unit.case)])
    return case_changes, _changed_rows(unit, ASSIGNMENTS, unit.assignments)


def _written(session: Session, unit: CaseUnit, changed: Sequence[tuple[int, Any]]) -> None:
    """The unit now holds the stored versions; the session forgets its copies of the rows."""
    unit.case.version += 1
    bumped = {row_id for row_id, _ in changed}
    for a in unit.assignments:
        if id(a) in unit.loaded and a.id in bumped:
            a.version += 1
    _forget_cached(session, unit)


def write_many(session: Session, moves: Sequence[tuple[CaseUnit, Contribution]]) -> set[int]:
    """Persist the moves of many cases (an escalation batch); the ids of the cases that moved on
    meanwhile: none of their rows was written, all the others' were.

    When no move made new assignments, one statement writes them all on PostgreSQL
    (``engine/case/pg_batch.py``) and a statement per table on SQLite (``_write_many_sqlite``);
    otherwise each is written as ``write`` does, in the order given.
    """
    if not moves:
        return set()
    _flush_pending(session)
    dialect = session.get_bind().dialect.name
    if any(id(a) not in unit.loaded for unit, _ in moves for a in unit.assignments):
        single = True  # new assignments are written first, each case on its own
    elif dialect == "sqlite":
        conn = session.connection()
        if sqlite_changes.ready(conn):
            return _write_many_sqlite(session, conn, moves)
        single = True
    else:
        single = dialect != "postgresql" or len({unit.org_version for unit, _ in moves}) > 1
    if single:
        moved_on = set()
        for unit, diff in moves:
            try:
                write(session, unit, diff)
            except ConcurrentChange:
                if any(id(a) not in unit.loaded for a in unit.assignments):
                    raise  # its new assignments were written before its guarded case row
                moved_on.add(unit.case.id)  # the guarded row came first: nothing was written
        return moved_on
    writes = []
    for unit, diff in moves:
        case_changes, changed = _sealed_changes(unit)
        writes.append(
            CaseWrite(
                unit=unit, diff=diff, case=case_changes, assignments=changed,
                clocks=_changed_rows(unit, DEADLINES, unit.deadlines),
                requests=_changed_rows(unit, REQUESTS, unit.requests),
            )
        )  # fmt: skip
    written = write_many_pg(session, writes)
    for w in writes:
        if w.unit.case.id in written:
            _written(session, w.unit, w.assignments)
    return {w.unit.case.id for w in writes} - written


def _write_many_sqlite(
    session: Session, conn: Connection, moves: Sequence[tuple[CaseUnit, Contribution]]
) -> set[int]:
    """SQLite: the case rows, each guarded by its version and the organisation's, then the
    changed and new rows of the cases written, all together: a statement per table (and per set
    of changed case columns), not per case and table."""
    sealed: list[_Written] = []
    held: set[int] = set()
    together: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
    for unit, diff in moves:
        case_changes, changed = _sealed_changes(unit)
        sealed.append((unit, diff, changed))
        if sqlite_changes.case_rows_usable(case_changes):
            row = (unit.case.id, unit.case.version, case_changes)
            together.setdefault(unit.org_version, []).append(row)
        elif _guarded_case_write(conn, unit, case_changes):
            held.add(unit.case.id)
    for org_version, rows in together.items():
        held |= sqlite_changes.write_cases(conn, rows, org_version)
    written = [w for w in sealed if w[0].case.id in held]
    moved_on = {unit.case.id for unit, _, _ in sealed} - held  # nothing of them is written
    if written:
        _write_children_sqlite(session, conn, written, viewed=True)
    for unit, _, changed in written:
        _written(session, unit, changed)
    return moved_on


def _changed_rows(
    unit: CaseUnit, table: Table, rows: Sequence[Any]
) -> list[tuple[int, dict[str, Any]]]:
    """The loaded rows the move changed, each with the columns it changed."""
    loaded = unit.loaded
    return [
        (r.id, values)
        for r in rows
        if id(r) in loaded and (values := _changes(r, table, loaded[id(r)]))
    ]


def insert_case(session: Session, unit: CaseUnit, *, last: bool = False) -> None:
    """Write a new case, its first event and its first clocks (guarded by the org version).

    ``last`` as for ``write``: a case whose id was taken beforehand is one statement on
    PostgreSQL."""
    case = unit.case
    alone = last and case.id is not None and not _has_pending(session)
    if not alone:
        begin_writes(session)
    _flush_pending(session)
    if session.get_bind().dialect.name == "sqlite":
        _insert_case_with_its_id(session, unit)
    elif case.id is not None:
        # Its id taken beforehand: the row goes in with its chain head, in the same statement
        # as its first event and clocks, guarded by the organisation's version.
        seal(case, unit.events)
        for d in unit.deadlines:
            d.case_id = case.id
        with _lost_at_commit(alone and commits_itself(session)):
            held = write_pg(session, unit, {}, case=None, new_case=True)
        if not held:
            raise ConcurrentChange("the organisation changed while the case was being raised")
        unit.loaded[id(case)] = snapshot_of(case, CASES)
        return
    else:
        new_id = insert_case_pg(session, unit)
        if new_id is None:
            raise ConcurrentChange("the organisation changed while the case was being raised")
        case.id = new_id
        seal(case, unit.events)
        for d in unit.deadlines:
            d.case_id = new_id
        write_pg(session, unit, {}, case=None, head=True)
        unit.loaded[id(case)] = snapshot_of(case, CASES)
        return
    for d in unit.deadlines:
        d.case_id = case.id
    conn = session.connection()
    _insert(conn, EVENTS, unit.events)
    _insert(conn, DEADLINES, unit.deadlines)
    unit.loaded[id(case)] = snapshot_of(case, CASES)


class _NextCaseId:
    """The id this process gives its next case on SQLite: one past the highest it has seen.

    Knowing the id before writing lets the case row carry its chain head from the start. A guess
    that another process took meanwhile conflicts harmlessly (nothing is written) and is
    corrected from the table; SQLite has one writer at a time, so the correction holds.
    """

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, session: Session) -> int:
        url = str(session.get_bind().engine.url)
        value = self.next.get(url)
        if value is None:
            value = self.refresh(session)
        self.next[url] = value + 1
        return value

    def refresh(self, session: Session) -> int:
        url = str(session.get_bind().engine.url)
        highest = session.scalar(select(func.coalesce(func.max(CASES.c.id), 0)))
        self.next[url] = int(highest or 0) + 1
        return self.next[url]


_NEXT_CASE_ID = _NextCaseId()
_GUESSES = 20


@cache
def _sqlite_case_insert(columns: tuple[str, ...]) -> Any:
    """A new case row with the id this process chose, if the organisation is still at the
    version its move saw and nobody took the id (else nothing, and no id comes back)."""
    guard: Any = select(*[bindparam(c, type_=CASES.c[c].type) for c in columns]).where(
        version_expr() == bindparam("_org")
    )
    return (
        sqlite_insert(CASES)
        .from_select(list(columns), guard)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(CASES.c.id)
    )


def _insert_case_with_its_id(session: Session, unit: CaseUnit) -> None:
    case = unit.case
    for _ in range(_GUESSES):
        case.id = _NEXT_CASE_ID.take(session)
        case.event_count, case.last_hash = 0, ""
        seal(case, unit.events)
        values = snapshot_of(case, CASES)
        conn = session.connection()
        stmt = prepared(_sqlite_case_insert(tuple(values)), conn.dialect)
        if stmt.run(conn, {**values, "_org": unit.org_version}).scalar() is not None:
            return
        stored = session.scalar(select(version_expr()))
        if int(stored or 0) != unit.org_version:
            raise ConcurrentChange("the organisation changed while the case was being raised")
        _NEXT_CASE_ID.refresh(session)
    raise ConcurrentChange("case ids kept being taken by other writers")


def _has_pending(session: Session) -> bool:
    """Whether the caller added, changed or deleted rows through the ORM (a flush writes them)."""
    return bool(session.new or session.dirty or session.deleted)


def _flush_pending(session: Session) -> None:
    """Rows the caller added through the ORM go first (the writer talks to the connection)."""
    if _has_pending(session):
        session.flush()


def _forget_cached(session: Session, unit: CaseUnit) -> None:
    """Expire any copy of the written rows that the session holds, so its reads see ours."""
    identity_map = session.identity_map
    if not len(identity_map):
        return
    rows: list[tuple[type[Any], int]] = [(Case, unit.case.id)]
    rows += [(Assignment, a.id) for a in unit.assignments]
    rows += [(Deadline, d.id) for d in unit.deadlines]
    rows += [(CaseRequest, r.id) for r in unit.requests]
    for model, row_id in rows:
        if row_id is None:
            continue  # a new request (its id is not read back): the session cannot hold it
        held = identity_map.get(identity_key(model, row_id))
        if held is not None:
            session.expire(held)
