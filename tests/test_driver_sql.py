"""Statements compiled once and sent to the driver: what they bind, what they count, what they
write (on the backend the suite runs on)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from engine.case.unit import DEADLINES, EVENTS
from engine.db import UTCDateTime
from engine.driver_sql import prepared, rows_insert
from engine.organisation.snapshot import version_expr


def test_literals_fixed_by_the_statement_travel_with_it(engine: Engine) -> None:
    # version_expr() names the organisation's row by a literal Core bound for it.
    stmt = select(version_expr().label("v"), bindparam("x", type_=func.now().type))
    with engine.connect() as conn:
        ready = prepared(stmt, conn.dialect)
        assert ready.fixed, "the literal of version_expr() is kept"
        assert "x" in ready.names
        row = ready.run(conn, {"x": None}).one()
    assert int(row.v) == 0


_tally_meta = MetaData()
TALLY = Table(
    "driver_sql_tally",
    _tally_meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(16), unique=True, nullable=False),
    Column("value", Integer, nullable=False),
)


@pytest.fixture
def tally(engine: Engine) -> Iterator[Table]:
    _tally_meta.create_all(engine)
    yield TALLY
    _tally_meta.drop_all(engine)


def _add(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TALLY).values(name=bindparam("name"), value=bindparam("value"))
    return stmt.on_conflict_do_update(
        index_elements=["name"], set_={"value": TALLY.c.value + stmt.excluded.value}
    )


def test_a_missing_value_is_an_error_before_anything_is_sent(engine: Engine, tally: Table) -> None:
    stmt = update(tally).where(tally.c.id == bindparam("_id")).values(value=bindparam("v"))
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with engine.connect() as conn, pytest.raises(KeyError):
        prepared(stmt, conn.dialect).run(conn, {"_id": 1})
    assert sent == []


def test_every_statement_is_seen_by_the_engines_events(engine: Engine, tally: Table) -> None:
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    rows = [{"name": "cases", "value": 2}, {"name": "late", "value": 1}]
    add = _add(engine.dialect.name)
    with engine.begin() as conn:
        ready = prepared(add, conn.dialect)
        ready.run_many(conn, rows)
        ready.run_many(conn, rows)
    assert len(sent) == 2
    with engine.connect() as conn:
        stored = {name: value for name, value in conn.execute(select(tally.c.name, tally.c.value))}
    assert stored == {"cases": 4, "late": 2}


def test_multi_row_insert_binds_each_column_with_its_type(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        # PostgreSQL's writes carry their rows as one JSON parameter (pg_rows), not VALUES lists.
        pytest.skip("multi-row VALUES lists are SQLite's path")
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    base = {
        "case_id": 1, "at": at, "actor_id": None, "actor_role": "resident", "trigger": "raise",
        "subject": "case", "assignment_id": None, "from_state": None, "to_state": "reported",
        "payload": {"说明": ["一", 2]}, "prev_hash": "", "hash": "h",
    }  # fmt: skip
    rows = [{**base, "id": None, "seq": n} for n in (1, 2)]
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        stmt = rows_insert(
            EVENTS, tuple(rows[0]), 2, conn.dialect, upsert=False, returning=("id", "seq")
        )
        back = sorted(stmt.run(conn, rows), key=lambda r: r[1])
        assert [seq for _, seq in back] == [1, 2]
        stored = conn.execute(select(EVENTS.c.at, EVENTS.c.payload).order_by(EVENTS.c.seq)).all()
    assert [r.at for r in stored] == [at, at]
    assert stored[0].payload == {"说明": ["一", 2]}
    assert stmt.bound(rows[0])[stmt.columns.index("at")] == "2026-03-02 01:00:00.000000"


def test_multi_row_upsert_overwrites_the_row_it_names(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        # PostgreSQL's writes carry their rows as one JSON parameter (pg_rows), not VALUES lists.
        pytest.skip("multi-row VALUES lists are SQLite's path")
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    clock = {
        "case_id": 1, "assignment_id": None, "clock": "dispatch", "limit": "2h",
        "started_at": at, "due_at": at, "state": "open", "closed_at": None,
        "extension_count": 0, "step_index": 0, "next_step": None, "next_fire_at": None,
        "claim_token": None, "claimed_at": None,
    }  # fmt: skip
    columns = tuple(c.name for c in DEADLINES.columns)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        first = rows_insert(DEADLINES, columns, 1, conn.dialect, upsert=True, returning=("id",))
        (stored_id,) = first.run(conn, [{**clock, "id": None}])[0]
        both = rows_insert(DEADLINES, columns, 2, conn.dialect, upsert=True, returning=("id",))
        both.run(conn, [{**clock, "id": stored_id, "state": "met"}, {**clock, "id": None}])
        states = conn.execute(select(DEADLINES.c.state).order_by(DEADLINES.c.id)).scalars().all()
    assert states == ["met", "open"]


def test_psycopg_keeps_the_move_statement_converted() -> None:
    # The PostgreSQL move statement is longer than psycopg's default limit for keeping a query's
    # conversion; pg_write raises the limit. If psycopg renames it, this says so.
    from psycopg import _queries

    from engine.case.pg_write import combined_sql

    sql = combined_sql().encode("utf-8")
    assert len(sql) > 4096
    assert len(sql) <= _queries.MAX_CACHED_STATEMENT_LENGTH


def test_a_move_with_more_rows_than_one_insert_takes_is_written_in_parts_with_every_id(
    session, rt, city, clock
) -> None:
    # More new rows than one multi-row INSERT carries (SQLite): each part returns its ids, and
    # each row gets the id of the row stored with its values.
    from engine.case.writer import _insert
    from engine.db import unattached
    from engine.driver_sql import ROWS_PER_INSERT
    from engine.event.models import Event
    from tests.builders import make_case

    case = make_case(session, rt, city, clock)
    count = 2 * ROWS_PER_INSERT + 7
    at = clock.now()
    base = {
        "case_id": case.id, "at": at, "actor_id": None, "actor_role": "system",
        "trigger": "note", "subject": "case", "assignment_id": None, "from_state": None,
        "to_state": None, "prev_hash": "",
    }  # fmt: skip
    rows = [
        unattached(Event, {**base, "seq": 1000 + n, "payload": {"n": n}, "hash": f"h{n}"})
        for n in range(count)
    ]
    _insert(session.connection(), EVENTS, rows)
    stored = dict(
        session.execute(select(EVENTS.c.id, EVENTS.c.payload).where(EVENTS.c.seq >= 1000)).all()
    )
    session.rollback()
    assert len({r.id for r in rows}) == count
    assert all(stored[r.id] == {"n": r.seq - 1000} for r in rows)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),
    ],
)
def test_utc_datetime_on_sqlite__binds_the_text_of_its_two_processors_in_one(
    moment: datetime,
) -> None:
    # The one-step processor gives what process_bind_param followed by SQLite's DATETIME gave.
    dialect = sqlite.dialect()
    kind = UTCDateTime()
    naive_utc = kind.process_bind_param(moment, dialect)
    stored = kind.impl_instance.dialect_impl(dialect).bind_processor(dialect)
    assert stored is not None
    assert kind._cached_bind_processor(dialect)(moment) == stored(naive_utc)
    assert kind._cached_bind_processor(dialect)(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        kind._cached_bind_processor(dialect)(moment.replace(tzinfo=None))
