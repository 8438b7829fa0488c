"""Clocks follow states: after every move, open, keep or close the deadline rows of DESIGN §3.

A clock opens when its subject enters a ``starts_in`` state and none is open, runs while the
subject stays in ``runs_in``, is met (on time or late) on entering ``met_in``, and is cancelled on
entering any other state. All of it happens in the same transaction as the move.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from engine.calendar import WorkCalendar
from engine.db import unattached
from engine.deadline.models import Deadline
from engine.duration import Duration
from engine.vocabulary import DeadlineState, Priority, Subject
from engine.workflow.loader import Workflow
from engine.workflow.schema import ClockSpec, LadderStep


class ClockedCase(Protocol):
    """What the clocks read of a case."""

    @property
    def id(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def priority(self) -> str: ...


class ClockedAssignment(Protocol):
    """What the clocks read of an assignment."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def state(self) -> str: ...


def step_time(deadline: Deadline, step: LadderStep, calendar: WorkCalendar) -> datetime:
    """When a ladder step of this deadline falls due.

    A share of a limit in working days is a share of the working time between start and due, so
    a reminder at 80 % never falls on a weekend or a holiday; hours and minutes run on natural time.
    """
    fraction = step.fraction
    if fraction is not None:
        if Duration.parse(deadline.limit, bounded=False).is_working_days:
            span = calendar.working_seconds_between(deadline.started_at, deadline.due_at)
            return calendar.add_working_seconds(deadline.started_at, span * fraction)
        return deadline.started_at + (deadline.due_at - deadline.started_at) * fraction
    offset = step.offset
    assert offset is not None
    return calendar.add(deadline.due_at, offset)


def schedule(deadline: Deadline, ladder: Sequence[LadderStep], calendar: WorkCalendar) -> None:
    """Point the deadline at its next ladder step, or at nothing when the ladder is done."""
    # A re-planned step is a new piece of work for the sweeper, whoever had claimed the old one.
    deadline.claim_token = None
    deadline.claimed_at = None
    if deadline.state != DeadlineState.OPEN or deadline.step_index >= len(ladder):
        deadline.next_step = None
        deadline.next_fire_at = None
        return
    step = ladder[deadline.step_index]
    deadline.next_step = step.step.value
    deadline.next_fire_at = step_time(deadline, step, calendar)


def sync_clocks(
    *,
    workflow: Workflow,
    calendar: WorkCalendar,
    case: ClockedCase,
    assignments: Iterable[ClockedAssignment],
    running: list[Deadline],
    now: datetime,
) -> list[Deadline]:
    """Bring the clocks in line with the states of the case and its assignments (in memory).

    Opened clocks are appended to ``running`` (and returned); closed ones are taken out of it with
    their outcome set. The caller's writer persists both.
    """
    opened: list[Deadline] = []
    priority = Priority(case.priority)
    for name, spec in workflow.clocks(Subject.CASE):
        _sync_one(
            workflow, calendar, name, spec, case, None, case.state, priority, running, opened, now
        )
    for assignment in assignments:
        for name, spec in workflow.clocks(Subject.ASSIGNMENT):
            if assignment.role not in spec.assignment_roles:
                continue
            _sync_one(
                workflow, calendar, name, spec, case, assignment, assignment.state,
                priority, running, opened, now,
            )  # fmt: skip
    return opened


def _sync_one(
    workflow: Workflow,
    calendar: WorkCalendar,
    name: str,
    spec: ClockSpec,
    case: ClockedCase,
    assignment: ClockedAssignment | None,
    state: str,
    priority: Priority,
    running: list[Deadline],
    opened: list[Deadline],
    now: datetime,
) -> None:
    assignment_id = assignment.id if assignment is not None else None
    current = next(
        (d for d in running if d.clock == name and d.assignment_id == assignment_id), None
    )
    if current is not None:
        if state in spec.runs_in:
            return
        met = state in spec.met_in
        current.state = (
            (DeadlineState.MET if now <= current.due_at else DeadlineState.LATE)
            if met
            else DeadlineState.CANCELLED
        )
        current.closed_at = now
        current.next_step = None
        current.next_fire_at = None
        running.remove(current)
    if state in spec.starts_in:
        limit = spec.limits[priority]
        deadline = unattached(
            Deadline,
            {
                "case_id": case.id,
                "assignment_id": assignment_id,
                "clock": name,
                "limit": str(limit),
                "started_at": now,
                "due_at": calendar.add(now, limit),
                "state": DeadlineState.OPEN,
                "extension_count": 0,
                "step_index": 0,
            },
        )
        schedule(deadline, workflow.spec.ladder_of(name), calendar)
        running.append(deadline)
        opened.append(deadline)


def extend(
    *,
    workflow: Workflow,
    calendar: WorkCalendar,
    deadline: Deadline,
    by: Duration,
) -> None:
    """Move a running deadline's due time by ``by`` and re-plan the steps not yet applied."""
    deadline.due_at = calendar.add(deadline.due_at, by)
    deadline.extension_count += 1
    schedule(deadline, workflow.spec.ladder_of(deadline.clock), calendar)
