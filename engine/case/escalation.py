"""Applying ladder steps of deadlines: the use cases behind the escalation jobs.

A job may arrive twice, late, or after the case moved on; so a step is applied only if, in the
same transaction, the deadline is still open, still at that step, the step is due and not
recorded yet. Applying it appends the case event (actor ``system``, the step as trigger, the clock
in the payload), notifies, records the step, and plans the next one — guarded by the case's
version like any other move. A job's batch of steps is read, written and committed together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.case import callbacks, writer
from engine.case.facts import ACCEPT_CLOCK, REPORT_IN_CLOCK
from engine.case.pg_rows import dumps, plain, record
from engine.case.unit import CaseUnit, table_of
from engine.clock import utc_stamp
from engine.deadline.models import Deadline, EscalationStep
from engine.deadline.service import schedule
from engine.driver_sql import id_among
from engine.errors import ConcurrentChange, NotFound
from engine.event.models import Event
from engine.notification.service import StepNotice, notify_steps
from engine.rollup.contribution import Contribution
from engine.runtime import Runtime
from engine.uow import committed, use_case
from engine.vocabulary import DeadlineState, Trigger

SYSTEM = Actor.system()
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppliedStep:
    """A step this call applied: its event, and the webhook deliveries to enqueue after commit."""

    step: Trigger
    event_id: int
    deliveries: tuple[int, ...]


def _is_due_step(
    state: str, index: int, fire_at: datetime | None, step_index: int, now: datetime
) -> bool:
    if state != DeadlineState.OPEN or index != step_index:
        return False  # closed (resolved, met, cancelled) or this step is behind us
    # Not yet due, or re-planned later (an approved extension).
    return fire_at is not None and fire_at <= now


def _is_recorded(session: Session, deadline_id: int, step_index: int) -> bool:
    found = session.scalar(
        select(EscalationStep.id).where(
            EscalationStep.deadline_id == deadline_id, EscalationStep.step_index == step_index
        )
    )
    return found is not None


@dataclass(slots=True)
class _Planned:
    """A step applied to a loaded unit, waiting for the writer (which gives its event an id)."""

    deadline: Deadline
    step_index: int
    step: Trigger
    fire_at: datetime
    event: Event


def _plan(unit: CaseUnit, deadline_id: int, step_index: int, now: datetime) -> _Planned | None:
    """Apply one step to the unit in memory, if it is still due there."""
    deadline = next((d for d in unit.running if d.id == deadline_id), None)
    if deadline is None:
        return None  # closed meanwhile
    fire_at = deadline.next_fire_at
    if fire_at is None or not _is_due_step(
        deadline.state, deadline.step_index, fire_at, step_index, now
    ):
        return None
    ladder = unit.workflow.spec.ladder_of(deadline.clock)
    step = ladder[step_index]
    payload: dict[str, Any] = {
        "clock": deadline.clock,
        "deadline_id": deadline.id,
        "assignment_id": deadline.assignment_id,
        "step_index": step_index,
        "due_at": utc_stamp(fire_at),
        "clock_due_at": utc_stamp(deadline.due_at),
    }
    if step.step == Trigger.CLOSE:
        payload["close_reason"] = callbacks.window_close_reason(unit.case)
    event = unit.fire_case(SYSTEM, step.step, payload)
    if step.step == Trigger.CLOSE:
        unit.case.closed_at, unit.case.close_reason = now, payload["close_reason"]
    if step.step == Trigger.OVERDUE:
        _mark_late(unit, deadline.clock, deadline.assignment_id)
    deadline.step_index += 1
    schedule(deadline, ladder, unit.clock_calendar)
    return _Planned(deadline, step_index, step.step, fire_at, event)


def _mark_late(unit: CaseUnit, clock: str, assignment_id: int | None) -> None:
    """An accept or report-in clock past its due time can no longer be met: the response is
    decided (late) now, not when the department finally acts."""
    for a in unit.assignments:
        if a.id != assignment_id:
            continue
        if clock == ACCEPT_CLOCK and a.accepted_on_time is None:
            a.accepted_on_time = False
        elif clock == REPORT_IN_CLOCK and a.reported_in_on_time is None:
            a.reported_in_on_time = False


def _record(
    session: Session, written: Sequence[tuple[CaseUnit, Sequence[_Planned]]], now: datetime
) -> list[AppliedStep]:
    """After the units are written: tell the people concerned about every step (one INSERT of
    notifications) and record each step as applied (one INSERT)."""
    notices = [
        StepNotice(
            case=unit.case, deadline=p.deadline, step=p.step, workflow=unit.workflow,
            assignments=unit.assignments,
        )
        for unit, planned in written
        for p in planned
    ]  # fmt: skip
    if not notices:
        return []
    deliveries = notify_steps(session, notices, now=now)
    steps = [p for _, planned in written for p in planned]
    _insert_steps(session, steps, now)
    return [
        AppliedStep(step=p.step, event_id=p.event.id, deliveries=tuple(d))
        for p, d in zip(steps, deliveries, strict=True)
    ]


_STEPS = table_of(EscalationStep)
_STEP_COLUMNS = ("deadline_id", "step", "step_index", "due_at", "applied_at", "event_id")
# Through the table, not the ORM's bulk INSERT (which costs more than the rows' other work).
_NEW_STEPS = insert(_STEPS)
# PostgreSQL: the rows as one JSON array, one statement whatever their number (an executemany
# sends a statement per row).
_NEW_STEPS_PG = (
    f"INSERT INTO {_STEPS.name} ({', '.join(_STEP_COLUMNS)}) SELECT {', '.join(_STEP_COLUMNS)} "
    f"FROM jsonb_to_recordset(%(rows)s::jsonb) AS x({record(_STEPS, _STEP_COLUMNS)})"
)


def _insert_steps(session: Session, steps: Sequence[_Planned], now: datetime) -> None:
    """Record the steps as applied, in one statement."""
    conn = session.connection()
    rows = [
        {
            "deadline_id": p.deadline.id, "step": p.step, "step_index": p.step_index,
            "due_at": p.fire_at, "applied_at": now, "event_id": p.event.id,
        }
        for p in steps
    ]  # fmt: skip
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_NEW_STEPS_PG, {"rows": dumps([plain(r, _STEPS) for r in rows])})
    else:
        conn.execute(_NEW_STEPS, rows)


@use_case
def apply_step(
    *, session: Session, rt: Runtime, deadline_id: int, step_index: int, now: datetime
) -> AppliedStep | None:
    """Apply the deadline's ladder step ``step_index`` if it is still due; None when not."""
    found = session.execute(
        select(Deadline.case_id, Deadline.state, Deadline.step_index, Deadline.next_fire_at).where(
            Deadline.id == deadline_id
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"deadline {deadline_id} not found")
    case_id, state, index, fire_at = found
    if not _is_due_step(state, index, fire_at, step_index, now):
        return None  # the cheap answer for late and repeated jobs
    if _is_recorded(session, deadline_id, step_index):
        return None
    # The case and its clocks are read afresh: a move after this read bumps the case's version,
    # so our write of the case row fails and the use case runs again on fresh rows.
    unit = CaseUnit.load(session, rt, now, case_id=case_id)
    planned = _plan(unit, deadline_id, step_index, now)
    if planned is None:
        return None
    writer.write(session, unit, unit.finish())  # gives the event its id, for the record
    (applied,) = _record(session, [(unit, [planned])], now)
    return applied


def apply_steps(
    *, session: Session, rt: Runtime, steps: Sequence[tuple[int, int]], now: datetime
) -> list[AppliedStep]:
    """Apply a claimed batch of ladder steps: the cases read in one statement, written together
    (one statement on PostgreSQL), and one commit for the batch.

    Each step is still applied at most once, checked against its deadline row and the record of
    applied steps. A case that moved on meanwhile has nothing written and is left for the next
    sweep; the others commit. Should the batch fail otherwise (a database error), it is rolled
    back and each case is applied and committed on its own, so one bad case loses no other.
    """
    by_case = _due_by_case(session, steps, now)
    session.rollback()  # the reads above end here
    if not by_case:
        return []
    try:
        with committed(session):
            return _apply_together(session, rt, by_case, now)
    except (ConcurrentChange, DBAPIError) as exc:  # a lost connection is StoreUnavailable: out
        log.warning(
            "escalation batch of %s cases failed (%s); one case at a time", len(by_case), exc
        )
    return _apply_one_by_one(session, rt, by_case, now)


def _due_by_case(
    session: Session, steps: Sequence[tuple[int, int]], now: datetime
) -> dict[int, list[tuple[int, int]]]:
    """The steps still to apply, by case, as their deadline rows and the applied record say."""
    wanted = {(int(d), int(i)) for d, i in steps}
    if not wanted:
        return {}
    ids = sorted({d for d, _ in wanted})
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        select(
            Deadline.id,
            Deadline.case_id,
            Deadline.state,
            Deadline.step_index,
            Deadline.next_fire_at,
        ).where(id_among(Deadline.id, ids, dialect))
    ).all()
    done = {
        (int(d), int(i))
        for d, i in session.execute(
            select(EscalationStep.deadline_id, EscalationStep.step_index).where(
                id_among(EscalationStep.deadline_id, ids, dialect)
            )
        )
    }
    wanted_of: dict[int, list[int]] = {}
    for d, i in sorted(wanted):
        wanted_of.setdefault(d, []).append(i)
    by_case: dict[int, list[tuple[int, int]]] = {}
    for deadline_id, case_id, state, index, fire_at in sorted(rows, key=lambda r: r[0]):
        for i in wanted_of.get(deadline_id, ()):
            if (deadline_id, i) in done:
                continue
            if (i == index and _is_due_step(state, index, fire_at, i, now)) or i > index:
                by_case.setdefault(case_id, []).append((deadline_id, i))
    return dict(sorted(by_case.items()))


def _apply_together(
    session: Session, rt: Runtime, todo: dict[int, list[tuple[int, int]]], now: datetime
) -> list[AppliedStep]:
    """Every case of the batch in the caller's transaction; a case that moved on is left out."""
    units = CaseUnit.load_many(session, rt, now, case_ids=list(todo))
    moves: list[tuple[CaseUnit, Contribution]] = []
    planned: dict[int, list[_Planned]] = {}
    for case_id, case_steps in todo.items():  # in case id order, as every batch writes them
        unit = units.get(case_id)
        if unit is None:
            continue  # gone meanwhile
        if found := [p for d, i in case_steps if (p := _plan(unit, d, i, now))]:
            moves.append((unit, unit.finish()))
            planned[case_id] = found
    moved_on = writer.write_many(session, moves)
    for case_id in sorted(moved_on):
        log.warning("escalation of case %s left for the next sweep: it changed meanwhile", case_id)
    written = [(unit, planned[unit.case.id]) for unit, _ in moves if unit.case.id not in moved_on]
    return _record(session, written, now)


def _apply_one_by_one(
    session: Session, rt: Runtime, todo: dict[int, list[tuple[int, int]]], now: datetime
) -> list[AppliedStep]:
    """Each case loaded, written and committed on its own; one that fails is left alone."""
    applied: list[AppliedStep] = []
    for case_id, case_steps in todo.items():
        try:
            with committed(session):
                unit = CaseUnit.load(session, rt, now, case_id=case_id)
                planned = [p for d, i in case_steps if (p := _plan(unit, d, i, now))]
                recorded = []
                if planned:
                    writer.write(session, unit, unit.finish())
                    recorded = _record(session, [(unit, planned)], now)
        except (ConcurrentChange, DBAPIError) as exc:
            log.warning("escalation of case %s left for the next sweep: %s", case_id, exc)
            continue
        applied += recorded
    return applied
