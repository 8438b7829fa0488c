"""The write path's statement budget, counted per lifecycle step (deterministic, unlike time).

Every SQL statement a step sends is counted by an engine event listener, the case's load
included and COMMIT excluded; a regression that adds a read in the middle of a move, or turns an
executemany back into a statement per row, fails here. Figures per backend are in
``bench/RESULTS.md`` (``python -m bench.inspect_steps``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.runtime import Runtime
from engine.vocabulary import Rating, Trigger
from tests.builders import City

# The most statements any one step may send, per backend (the load included, COMMIT excluded).
# On PostgreSQL a move is the load and one statement of data-modifying CTEs (a dispatch first
# inserts its assignments, whose ids the events carry; a raise first inserts its case, whose id
# they carry). SQLite has no such statements: the guarded case row, one INSERT per table that
# gets new rows (their ids come back), and one statement for all the changed rows and the rollup
# change (``engine/case/sqlite_changes.py``); a new case's id is known before it is written.
BUDGET = {
    "sqlite": {
        Trigger.RAISE: 3,
        Trigger.DISPATCH: 6,
        Trigger.ACCEPT: 4,
        Trigger.REPORT_IN: 4,
        Trigger.COMPLETE: 5,
        Trigger.RATE: 4,
    },
    "postgresql": {
        Trigger.RAISE: 2,
        Trigger.DISPATCH: 3,
        Trigger.ACCEPT: 2,
        Trigger.REPORT_IN: 2,
        Trigger.COMPLETE: 2,
        Trigger.RATE: 2,
    },
}


@contextmanager
def counting(session: Session) -> Iterator[Counter[str]]:
    """Count the statements sent through the session's engine inside the block."""
    counts: Counter[str] = Counter()
    engine = session.get_bind().engine

    def on_execute(*args: Any) -> None:
        counts["statements"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _lifecycle(session: Session, rt: Runtime, city: City, clock: ManualClock) -> dict[str, int]:
    resident = city.actor(session, "resident")
    centre = city.actor(session, "cc_s1")
    department = city.actor(session, "dept_um")
    lead = city.departments[0].id
    draft = CaseDraft(workflow="hotline", area_id=city.grids[0].id, title="路灯不亮")
    spent: dict[str, int] = {}
    with counting(session) as c:
        case = raise_case(
            session=session, rt=rt, actor=resident, draft=draft,
            now=clock.advance(timedelta(minutes=1)),
        )  # fmt: skip
    spent[Trigger.RAISE] = c["statements"]
    with counting(session) as c:
        transition_case(
            session=session, rt=rt, actor=centre, case_id=case.id, trigger=Trigger.DISPATCH,
            payload={"lead": lead, "assisting": []},
            now=clock.advance(timedelta(minutes=1)),
        )  # fmt: skip
    spent[Trigger.DISPATCH] = c["statements"]
    assignment_id = session.scalar(select(Assignment.id).where(Assignment.case_id == case.id))
    assert assignment_id is not None
    session.rollback()
    for trigger, payload in (
        (Trigger.ACCEPT, {}),
        (Trigger.REPORT_IN, {}),
        (Trigger.COMPLETE, {"result": "已修复"}),
    ):
        with counting(session) as c:
            transition_assignment(
                session=session, rt=rt, actor=department, assignment_id=assignment_id,
                trigger=trigger, payload=payload, now=clock.advance(timedelta(minutes=1)),
            )  # fmt: skip
        spent[trigger] = c["statements"]
    with counting(session) as c:
        transition_case(
            session=session, rt=rt, actor=resident, case_id=case.id, trigger=Trigger.RATE,
            payload={"solved": True, "rating": Rating.SATISFIED},
            now=clock.advance(timedelta(minutes=1)),
        )  # fmt: skip
    spent[Trigger.RATE] = c["statements"]
    return spent


def test_lifecycle__each_step_stays_within_its_statement_budget(
    session: Session, rt: Runtime, city: City, clock: ManualClock, is_postgres: bool
) -> None:
    # The first case reads the organisation snapshot once; the second shows the steady state.
    _lifecycle(session, rt, city, clock)
    spent = _lifecycle(session, rt, city, clock)
    budget = BUDGET["postgresql" if is_postgres else "sqlite"]
    over = {step: (n, budget[step]) for step, n in spent.items() if n > budget[step]}
    assert not over, f"steps over their statement budget (sent, allowed): {over}"
    assert max(spent.values()) <= 7
    assert sum(spent.values()) <= sum(budget.values())
    # The budget: at most 5 statements per step on average over the six steps.
    assert len(spent) == 6
    assert sum(spent.values()) <= 5 * len(spent)


def test_lifecycle__an_admin_change_is_seen_by_the_next_move_without_a_read_per_move(
    session: Session, rt: Runtime, city: City, clock: ManualClock, is_postgres: bool
) -> None:
    _lifecycle(session, rt, city, clock)
    known = rt.org.get(session).version
    city.departments[0].name_en = "Urban management (renamed)"
    session.commit()
    spent = _lifecycle(session, rt, city, clock)
    # The first load after the change saw the new version and read the organisation again.
    assert rt.org.get(session).version > known
    assert rt.org.get(session).nodes[city.departments[0].id].name_en.endswith("(renamed)")
    assert spent[Trigger.RATE] <= BUDGET["postgresql" if is_postgres else "sqlite"][Trigger.RATE]


# A command centre's press by hand (催办/督办): the move of a step, plus the department's
# notification; on PostgreSQL the notification's INSERT also reads the department's webhook
# subscriptions, on SQLite they are one more SELECT.
PRESS_BUDGET = {"sqlite": 5, "postgresql": 3}


def test_manual_remind__the_press_and_its_notification_stay_within_their_statement_budget(
    session: Session, rt: Runtime, city: City, clock: ManualClock, is_postgres: bool
) -> None:
    resident = city.actor(session, "resident")
    centre = city.actor(session, "cc_s1")
    draft = CaseDraft(workflow="hotline", area_id=city.grids[0].id, title="路灯不亮")
    case = raise_case(session=session, rt=rt, actor=resident, draft=draft, now=clock.now())
    transition_case(
        session=session, rt=rt, actor=centre, case_id=case.id, trigger=Trigger.DISPATCH,
        payload={"lead": city.departments[0].id, "assisting": []}, now=clock.now(),
    )  # fmt: skip
    spent = []
    for _ in range(2):
        with counting(session) as c:
            transition_case(
                session=session, rt=rt, actor=centre, case_id=case.id,
                trigger=Trigger.MANUAL_REMIND, payload={"reason": "居民再次来电"},
                now=clock.advance(timedelta(minutes=1)),
            )  # fmt: skip
        spent.append(c["statements"])
    assert spent[-1] <= PRESS_BUDGET["postgresql" if is_postgres else "sqlite"], spent
