"""PostgreSQL: a move's one statement reaches its rows through their indexes, never a whole table.

The statement is prepared once per connection and its plan kept; the planner takes each
``jsonb_to_recordset`` for 100 rows, so when the rows were joined on ``x.id`` alone it hashed the
whole ``cases``, ``assignments`` and ``deadlines`` tables, and every move cost time in proportion
to the number of cases (measured: 1.2 ms per move at 250 cases, 2.9 ms at 1,500). Each part now
names its case as a scalar (``t.id`` / ``t.case_id``), which the planner answers from an index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.models import Base
from engine.runtime import Runtime
from engine.vocabulary import Trigger
from tests.builders import City

pytestmark = pytest.mark.postgres_only  # the one-statement move is PostgreSQL's path

# The tables a move changes rows of; a sequential scan of any of them grows with the city.
CHANGED = {"cases", "assignments", "deadlines"}


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(node type, relation) of every scan in an EXPLAIN (FORMAT JSON) plan tree."""
    if "Relation Name" in plan:
        yield plan["Node Type"], plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from _scans(child)


@contextmanager
def _moves_sent(session: Session, prefix: str) -> Iterator[list[tuple[str, Any]]]:
    """The (SQL, parameters) of every statement starting with ``prefix`` sent meanwhile."""
    moves: list[tuple[str, Any]] = []
    engine = session.get_bind().engine

    def capture(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        if sql.startswith(prefix):
            moves.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield moves
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def test_a_move_statement_scans_no_whole_table(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    def tick() -> Any:
        return clock.advance(timedelta(minutes=1))

    with _moves_sent(session, "WITH c AS (UPDATE cases") as moves:
        # A few cases dispatched and accepted, so that the last move changes a case, an
        # assignment and its clocks.
        for _ in range(3):
            draft = CaseDraft(workflow="hotline", area_id=city.grids[0].id, title="路灯不亮")
            case = raise_case(
                session=session, rt=rt, actor=city.actor(session, "resident"), draft=draft,
                now=tick(),
            )  # fmt: skip
            transition_case(
                session=session, rt=rt, actor=city.actor(session, "cc_s1"), case_id=case.id,
                trigger=Trigger.DISPATCH,
                payload={"lead": city.departments[0].id, "assisting": []}, now=tick(),
            )  # fmt: skip
            assignment_id = session.scalar(
                select(Assignment.id).where(Assignment.case_id == case.id)
            )
            assert assignment_id is not None
            session.rollback()
            moves.clear()
            transition_assignment(
                session=session, rt=rt, actor=city.actor(session, "dept_um"),
                assignment_id=assignment_id, trigger=Trigger.ACCEPT, payload={}, now=tick(),
            )  # fmt: skip
    # Grow the tables to a small city's size (copies of the rows there are) and let the planner
    # know: on tables of a page or two a sequential scan is right, and a whole-table hash only
    # shows once the tables are larger.
    conn = session.connection()
    for table in ("cases", "assignments", "deadlines"):
        columns = ", ".join(
            f'"{c.name}"' for c in Base.metadata.tables[table].columns if c.name != "id"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}, "
            "generate_series(1, 1000)"
        )
    conn.exec_driver_sql("ANALYZE cases, assignments, deadlines")
    session.commit()

    assert len(moves) == 1
    sql, params = moves[0]
    # The accept changed the case, its assignment and its clocks: every part of the statement
    # that reads a changed table had rows to find.
    for part in ("c", "a", "dc"):
        assert json.loads(params[part]), part
    (plan,) = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params).one()
    session.rollback()
    tree = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    whole = sorted({rel for node, rel in _scans(tree) if node == "Seq Scan" and rel in CHANGED})
    assert whole == [], f"the move scans whole tables: {whole}"


def test_a_move_statement_carries_only_the_parts_it_has_rows_for(
    session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    # An empty part still costs the server its set-up and run; a move leaves it out.
    with _moves_sent(session, "WITH c AS (") as moves:
        draft = CaseDraft(workflow="hotline", area_id=city.grids[0].id, title="路灯不亮")
        case = raise_case(
            session=session, rt=rt, actor=city.actor(session, "resident"), draft=draft,
            now=clock.advance(timedelta(minutes=1)),
        )  # fmt: skip
        transition_case(
            session=session, rt=rt, actor=city.actor(session, "cc_s1"), case_id=case.id,
            trigger=Trigger.DISPATCH, payload={"lead": city.departments[0].id, "assisting": []},
            now=clock.advance(timedelta(minutes=1)),
        )  # fmt: skip
    assert len(moves) == 2
    for sql, params in moves:
        assert "case_requests" not in sql  # neither move has a request row
        assert "rn" not in params
        assert "rc" not in params
        for part in ("a", "e", "dn", "dc", "ru"):
            # A part is in the statement exactly when it carries rows.
            assert (f" {part} AS (" in sql) == (part in params), part
            if part in params:
                assert json.loads(params[part]), part
    _, dispatch_params = moves[1]
    # The dispatch wrote its event, closed the dispatch clock, opened the department's clocks
    # and added to the rollups.
    assert {"e", "dn", "dc", "ru"} <= set(dispatch_params)
