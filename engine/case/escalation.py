"""Applying one ladder step of one deadline: the use case behind every escalation job.

A job may arrive twice, late, or after the case moved on; so the step is applied only if, in the
same transaction, the deadline is still open, still at that step, the step is due and not
recorded yet. Applying it appends the case event (actor ``system``, the step as trigger, the clock
in the payload), notifies, records the step, and plans the next one — all in one commit, guarded
by the case's version like any other move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.case import writer
from engine.case.unit import CaseUnit
from engine.deadline.models import Deadline, EscalationStep
from engine.deadline.service import schedule
from engine.errors import NotFound
from engine.notification.service import notify_step
from engine.runtime import Runtime
from engine.uow import use_case
from engine.vocabulary import DeadlineState, Trigger

SYSTEM = Actor.system()


@dataclass(frozen=True, slots=True)
class AppliedStep:
    """A step this call applied: its event, and the webhook deliveries to enqueue after commit."""

    step: Trigger
    event_id: int
    deliveries: tuple[int, ...]


def _stamp(moment: datetime) -> str:
    # ISO 8601 in UTC with a "Z", as in webhook bodies, so clients read one form.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
    # Read the case, then its running clocks (afresh): a move after this read bumps the case's
    # version, so our write of the case row fails and the use case runs again on fresh rows.
    unit = CaseUnit.load(session, rt, now, case_id=case_id)
    deadline = next((d for d in unit.running if d.id == deadline_id), None)
    if deadline is None:
        return None  # closed meanwhile
    if not _is_due_step(
        deadline.state, deadline.step_index, deadline.next_fire_at, step_index, now
    ):
        return None
    if _is_recorded(session, deadline_id, step_index):
        return None
    ladder = unit.workflow.spec.ladder_of(deadline.clock)
    step = ladder[step_index]
    fire_at = deadline.next_fire_at
    assert fire_at is not None  # checked by _is_due_step
    payload: dict[str, Any] = {
        "clock": deadline.clock,
        "deadline_id": deadline.id,
        "assignment_id": deadline.assignment_id,
        "step_index": step_index,
        "due_at": _stamp(fire_at),
        "clock_due_at": _stamp(deadline.due_at),
    }
    event = unit.fire_case(SYSTEM, step.step, payload)
    if step.step == Trigger.CLOSE:
        unit.case.closed_at = now
    deadline.step_index += 1
    schedule(deadline, ladder, rt.calendar)
    writer.write(session, unit, unit.finish(), event_ids=True)  # the event id, for the record
    deliveries = notify_step(
        session, case=unit.case, deadline=deadline, step=step.step, now=now,
        workflow=unit.workflow, assignments=unit.assignments,
    )  # fmt: skip
    session.add(
        EscalationStep(
            deadline_id=deadline.id,
            step=step.step,
            step_index=step_index,
            due_at=fire_at,
            applied_at=now,
            event_id=event.id,
        )
    )
    return AppliedStep(step=step.step, event_id=event.id, deliveries=tuple(deliveries))
