"""Helpers for the evaluation tests: firing moves by account name, running due ladder steps,
reading one unit's figures, and checking the rollups against a full recompute.
"""

from __future__ import annotations

import signal
from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.escalation import apply_step
from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.evaluation.period import Period
from engine.evaluation.recompute import Difference, recompute
from engine.evaluation.service import evaluate
from engine.rollup.metrics import Level
from engine.rollup.scheme import EvaluationScheme, get_scheme
from engine.runtime import Runtime
from engine.vocabulary import DeadlineState, Trigger
from tests.builders import City, assignments_of
from tests.scenario import with_reason
from workers.reports import REPORTS
from workers.rq_workers import InProcessWorker

STEP = timedelta(minutes=10)
SYSTEM = Actor.system()


def raise_at(
    session: Session, rt: Runtime, city: City, clock: ManualClock, *, street: int = 0,
    workflow: str = "hotline", raiser: str = "resident", title: str = "路灯不亮",
) -> Case:  # fmt: skip
    """Raise a case in the grid of ``street`` now."""
    return raise_case(
        session=session, rt=rt, actor=city.actor(session, raiser),
        draft=CaseDraft(workflow=workflow, area_id=city.grids[street].id, title=title),
        now=clock.now(),
    )  # fmt: skip


def fire(
    session: Session, rt: Runtime, city: City, clock: ManualClock, case_id: int,
    trigger: Trigger, who: str, payload: dict[str, Any] | None = None, *,
    after: timedelta = STEP,
) -> Case:  # fmt: skip
    """Fire a case trigger as the named account, ``after`` the last move."""
    return transition_case(
        session=session, rt=rt, actor=city.actor(session, who), case_id=case_id,
        trigger=trigger, payload=with_reason(trigger, payload), now=clock.advance(after),
    )  # fmt: skip


def fire_on(
    session: Session, rt: Runtime, city: City, clock: ManualClock, assignment_id: int,
    trigger: Trigger, who: str, payload: dict[str, Any] | None = None, *,
    after: timedelta = STEP,
) -> Assignment:  # fmt: skip
    """Fire an assignment trigger as the named account, ``after`` the last move."""
    return transition_assignment(
        session=session, rt=rt, actor=city.actor(session, who), assignment_id=assignment_id,
        trigger=trigger, payload=with_reason(trigger, payload), now=clock.advance(after),
    )  # fmt: skip


def dispatch(
    session: Session, rt: Runtime, city: City, clock: ManualClock, case_id: int, *,
    lead: int, assisting: list[int] | None = None, who: str = "cc_s1",
    after: timedelta = STEP,
) -> list[Assignment]:  # fmt: skip
    """Dispatch to ``lead`` (and ``assisting``); the case's assignments, lead first."""
    fire(session, rt, city, clock, case_id, Trigger.DISPATCH, who,
         {"lead": lead, "assisting": assisting or []}, after=after)  # fmt: skip
    return assignments_of(session, case_id)


def work_through(
    session: Session, rt: Runtime, city: City, clock: ManualClock, assignment: Assignment,
    who: str, *, after: timedelta = STEP, hours: float | None = None,
) -> None:  # fmt: skip
    """Accept, report in and complete one assignment, ``after`` apart."""
    fire_on(session, rt, city, clock, assignment.id, Trigger.ACCEPT, who, after=after)
    fire_on(session, rt, city, clock, assignment.id, Trigger.REPORT_IN, who, after=after)
    payload: dict[str, Any] = {"result": "已处理完毕"}
    if hours is not None:
        payload["service_hours"] = hours
    fire_on(session, rt, city, clock, assignment.id, Trigger.COMPLETE, who, payload, after=after)


def run_due_steps(session: Session, rt: Runtime, now: datetime) -> int:
    """Apply every ladder step due by ``now`` as the escalation jobs would; how many applied."""
    applied = 0
    while True:
        due = session.execute(
            select(Deadline.id, Deadline.step_index)
            .where(Deadline.state == DeadlineState.OPEN, Deadline.next_fire_at <= now)
            .order_by(Deadline.next_fire_at, Deadline.id)
        ).all()
        session.rollback()
        if not due:
            return applied
        for deadline_id, step_index in due:
            step = apply_step(
                session=session, rt=rt, deadline_id=deadline_id, step_index=step_index, now=now
            )
            applied += step is not None


def rollup_differences(session: Session, rt: Runtime) -> list[Difference]:
    """What a full recompute finds different from the rollups (nothing, when all is well)."""
    result = recompute(session=session, calendar=rt.calendar, cohort=get_scheme().cohort)
    return result.differences


def row_of(
    session: Session, rt: Runtime, level: Level, unit_id: int, period: Period, *,
    now: datetime, scheme: EvaluationScheme | None = None, actor: Actor = SYSTEM,
) -> dict[str, Any]:  # fmt: skip
    """One unit's figures for the period."""
    evaluation = evaluate(
        session=session, rt=rt, actor=actor, level=level, period=period, now=now,
        scheme=scheme, unit_id=unit_id,
    )  # fmt: skip
    (row,) = evaluation.rows
    return row


def run_reports(connection: redis.Redis) -> None:
    """Run the reports queue dry with a real RQ worker in burst mode (signal handlers restored)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker = InProcessWorker([Queue(REPORTS, connection=connection)], connection=connection)
        worker.work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
