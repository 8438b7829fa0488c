"""SQLite's one statement for a move's changed rows and rollup change (``temp.whistle_changes``).

These tests make their own SQLite database, so they run in every suite run: the view is SQLite's,
and SQLite is always at hand. A move written through the view must store, byte for byte, what the
per-table statements store; a connection that has no view yet writes table by table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case import sqlite_changes
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.case.unit import ASSIGNMENTS, DEADLINES
from engine.clock import ManualClock
from engine.db import make_engine, make_session_factory
from engine.models import Base
from engine.runtime import Runtime
from engine.vocabulary import Rating, Trigger
from tests.builders import City, make_city
from tests.conftest import T0
from tests.evaluation_support import rollup_differences


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'changes.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _steps(
    session: Session, rt: Runtime, city: City, *, prime: bool, service_hours: float | None = None
) -> int:
    """A case's whole lifecycle; ``prime`` opens each use case's transaction with a write first,
    so the connection never gets the view (the writer then goes table by table)."""
    clock = ManualClock(T0)

    def step() -> Any:
        if prime:
            session.execute(text("DELETE FROM cases WHERE id < 0"))
        return clock.advance(timedelta(minutes=7))

    resident = city.actor(session, "resident")
    centre = city.actor(session, "cc_s1")
    department = city.actor(session, "dept_um")
    draft = CaseDraft(workflow="hotline", area_id=city.grids[0].id, title="井盖缺失")
    case = raise_case(session=session, rt=rt, actor=resident, draft=draft, now=step())
    transition_case(
        session=session, rt=rt, actor=centre, case_id=case.id, trigger=Trigger.DISPATCH,
        payload={"lead": city.departments[0].id, "assisting": []}, now=step(),
    )  # fmt: skip
    assignment_id = session.scalar(select(Assignment.id).where(Assignment.case_id == case.id))
    assert assignment_id is not None
    session.rollback()
    done: dict[str, Any] = {"result": "已补装"}
    if service_hours is not None:
        done["service_hours"] = service_hours
    for trigger, payload in (
        (Trigger.ACCEPT, {}),
        (Trigger.REPORT_IN, {}),
        (Trigger.COMPLETE, done),
    ):
        transition_assignment(
            session=session, rt=rt, actor=department, assignment_id=assignment_id,
            trigger=trigger, payload=payload, now=step(),
        )  # fmt: skip
    transition_case(
        session=session, rt=rt, actor=resident, case_id=case.id, trigger=Trigger.RATE,
        payload={"solved": True, "rating": Rating.SATISFIED}, now=step(),
    )  # fmt: skip
    return case.id


def _stored(session: Session, table: str, case_id: int) -> list[tuple[Any, ...]]:
    """Each row of ``table`` for the case as SQLite holds it: every value with its storage type,
    ids and case ids left out (they differ between two cases by design)."""
    columns = [r[1] for r in session.execute(text(f"PRAGMA table_info({table})"))]
    kept = [c for c in columns if c not in ("id", "case_id", "assignment_id")]
    cells = ", ".join(f'"{c}", typeof("{c}")' for c in kept)
    rows = session.execute(
        text(f"SELECT {cells} FROM {table} WHERE case_id = :c ORDER BY id"), {"c": case_id}
    )
    return [tuple(r) for r in rows]


@pytest.fixture
def lite_session(lite: Engine) -> Iterator[Session]:
    with make_session_factory(lite)() as s:
        yield s


def test_a_move_through_the_view_stores_what_the_per_table_statements_store(
    lite: Engine, lite_session: Session, rt: Runtime
) -> None:
    city = make_city(lite_session, now=T0)
    lite_session.commit()
    viewed = _steps(lite_session, rt, city, prime=False)
    assert lite_session.connection().info.get("whistle_changes_view") is True
    other = make_engine(str(lite.url))
    with make_session_factory(other)() as plain:
        by_table = _steps(plain, rt, city, prime=True)
        assert plain.connection().info.get("whistle_changes_view") is None
        plain.commit()
    other.dispose()
    for table in ("assignments", "deadlines"):
        assert _stored(lite_session, table, viewed) == _stored(lite_session, table, by_table)
        assert _stored(lite_session, table, viewed)
    versions = lite_session.execute(
        select(Assignment.version).where(Assignment.case_id.in_([viewed, by_table]))
    ).scalars()
    assert set(versions) == {4}  # written at 1; accepted, reported in, completed: +1 each
    assert rollup_differences(lite_session, rt) == []


def test_a_float_goes_by_its_tables_update_and_is_stored_exactly(
    lite_session: Session, rt: Runtime
) -> None:
    city = make_city(lite_session, now=T0)
    lite_session.commit()
    sent: list[str] = []
    engine = lite_session.get_bind()
    assert isinstance(engine, Engine)

    def on_execute(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        case_id = _steps(lite_session, rt, city, prime=False, service_hours=0.1 + 0.2)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    hours = lite_session.scalar(
        select(Assignment.service_hours).where(Assignment.case_id == case_id)
    )
    assert hours == 0.1 + 0.2  # 0.30000000000000004: SQLite's JSON reader would round it
    assert any(s.startswith("UPDATE assignments") for s in sent)
    assert rollup_differences(lite_session, rt) == []


def test_send_writes_only_the_columns_listed_and_adds_rollups(
    lite_session: Session, rt: Runtime
) -> None:
    city = make_city(lite_session, now=T0)
    lite_session.commit()
    case_id = _steps(lite_session, rt, city, prime=False)
    conn = lite_session.connection()
    clock_id, claimed = conn.execute(
        select(DEADLINES.c.id, DEADLINES.c.state).where(DEADLINES.c.case_id == case_id).limit(1)
    ).one()
    conn.execute(
        DEADLINES.update()
        .where(DEADLINES.c.id == clock_id)
        .values(claim_token="sweeper-1", closed_at=T0)
    )
    assignment_id, version = conn.execute(
        select(ASSIGNMENTS.c.id, ASSIGNMENTS.c.version).where(ASSIGNMENTS.c.case_id == case_id)
    ).one()
    unit = city.departments[0].id
    before = conn.execute(
        text("SELECT coalesce(sum(value), 0) FROM evaluation_rollups WHERE unit_id = :u"),
        {"u": unit},
    ).scalar_one()
    assert sqlite_changes.ready(conn)
    sqlite_changes.send(
        conn,
        {
            DEADLINES: [(clock_id, {"closed_at": None})],
            ASSIGNMENTS: [(assignment_id, {"result": "复查：已补装"})],
        },
        [
            {"level": "department", "unit_id": unit, "month": 202401, "metric": "m1", "shard": 0,
             "value": 5},
            {"level": "department", "unit_id": unit, "month": 202401, "metric": "m1", "shard": 0,
             "value": 2},
        ],
    )  # fmt: skip
    clock = conn.execute(select(DEADLINES).where(DEADLINES.c.id == clock_id)).one()
    assert clock.claim_token == "sweeper-1"  # not listed: left as it was
    assert clock.state == claimed
    assert clock.closed_at is None  # listed as null: written as null
    row = conn.execute(select(ASSIGNMENTS).where(ASSIGNMENTS.c.id == assignment_id)).one()
    assert (row.result, row.version) == ("复查：已补装", version + 1)
    after = conn.execute(
        text("SELECT coalesce(sum(value), 0) FROM evaluation_rollups WHERE unit_id = :u"),
        {"u": unit},
    ).scalar_one()
    assert after == before + 7
    lite_session.rollback()


def test_a_connection_inside_a_transaction_gets_no_view_until_it_is_between_transactions(
    lite: Engine,
) -> None:
    with lite.connect() as conn:
        conn.execute(text("DELETE FROM cases WHERE id < 0"))  # the driver opens a transaction
        assert not sqlite_changes.ready(conn)
        assert conn.info.get("whistle_changes_view") is None
        conn.rollback()
        assert sqlite_changes.ready(conn)
        sent: list[str] = []
        event.listen(lite, "before_cursor_execute", lambda *a: sent.append(a[2]))
        assert sqlite_changes.ready(conn)  # made once per connection
        assert sent == []
        names = conn.execute(text("SELECT name FROM sqlite_temp_master ORDER BY name")).scalars()
        assert list(names) == [
            "whistle_changes",
            "whistle_changes_assignments",
            "whistle_changes_case_requests",
            "whistle_changes_deadlines",
            "whistle_changes_evaluation_rollups",
        ]


def test_the_view_leaves_owner_columns_and_floats_to_the_tables_update() -> None:
    assert sqlite_changes.usable(DEADLINES, {"state": "met", "closed_at": T0})
    assert not sqlite_changes.usable(DEADLINES, {"state": "met", "assignment_id": 3})
    assert not sqlite_changes.usable(ASSIGNMENTS, {"org_id": 3})
    assert not sqlite_changes.usable(ASSIGNMENTS, {"service_hours": 1.5})
    trigger = "\n".join(sqlite_changes.ddl()[1:])
    assert '"limit" = CASE' in trigger
    for owner in ("case_id", "assignment_id", "org_id"):
        assert f"{owner} = CASE" not in trigger  # never set by the view
