"""Keeping the rollups in step with the cases, inside each use case's own transaction.

``CaseUnit.load`` starts a ``RollupTracker`` (the case's contribution as loaded); ``finish`` records
the facts the evaluation needs that became known in this move (clock outcomes, ladder steps) on
the case and assignment rows and returns ``after − before``, which the case's writer adds to the
rollups with one upsert. Moves that change no figure (a progress note, a reminder) write nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.assignment.models import Assignment
from engine.calendar import WorkCalendar
from engine.case.models import Case
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.rollup.contribution import Contribution, contribution, difference
from engine.rollup.metrics import Cohort
from engine.vocabulary import AssignmentRole, AssignmentState, DeadlineState, Trigger

# The clocks whose outcomes the rates read; every built-in workflow names its clocks so.
ACCEPT_CLOCK = "accept"
REPORT_IN_CLOCK = "report_in"
RESOLVE_CLOCK = "resolve"
_CLOSED = (DeadlineState.MET, DeadlineState.LATE)
# A supervision by hand (督办) counts exactly as the ladder's does, charged the same way.
_LADDER_COUNTERS: dict[str, str] = {
    Trigger.SUPERVISE: "supervise_count",
    Trigger.MANUAL_SUPERVISE: "supervise_count",
    Trigger.RED: "red_count",
}


class RollupTracker:
    """The case's contribution when loaded, and the clocks that were running then."""

    __slots__ = ("before", "calendar", "clocks", "cohort", "counted")

    def __init__(
        self,
        calendar: WorkCalendar,
        cohort: Cohort,
        before: Contribution,
        clocks: list[Deadline],
    ):
        self.calendar = calendar
        self.cohort = cohort
        self.before = before
        self.clocks = clocks
        self.counted = 0  # events already looked at (``finish`` may run more than once)

    @classmethod
    def start(
        cls,
        *,
        calendar: WorkCalendar,
        cohort: Cohort,
        case: Case,
        assignments: Sequence[Assignment],
        running: Sequence[Deadline],
    ) -> RollupTracker:
        """Remember what the case contributes before the use case changes anything."""
        before = contribution(case, assignments, calendar=calendar, cohort=cohort)
        return cls(calendar, cohort, before, list(running))

    def finish(
        self,
        *,
        case: Case,
        assignments: Sequence[Assignment],
        running: Sequence[Deadline],
        events: Sequence[Event],
    ) -> Contribution:
        """Record the new facts on the rows; the change of contribution since the last call."""
        record_clock_outcomes(case, assignments, self.clocks, running)
        record_ladder_steps(case, assignments, events[self.counted :])
        self.counted = len(events)
        after = contribution(case, assignments, calendar=self.calendar, cohort=self.cohort)
        diff = difference(after, self.before)
        self.before = after
        self.clocks = list(running)
        return diff


def record_clock_outcomes(
    case: Case,
    assignments: Sequence[Assignment],
    clocks_at_load: Iterable[Deadline],
    running: Iterable[Deadline],
) -> None:
    """Note on the rows whether a clock closed in this move was met in time.

    An assignment accepted (or on site) with no such clock running any more, and none closed
    late, counts as in time: either it had no limit to miss, or its clock opened and closed within
    this one move (a co-building unit's claim opens the accept clock and meets it at once).
    """
    by_id = {a.id: a for a in assignments}
    for d in clocks_at_load:
        if d.state not in _CLOSED:
            continue
        in_time = d.state == DeadlineState.MET
        if d.assignment_id is None:
            if d.clock == RESOLVE_CLOCK:
                case.resolved_on_time = in_time
            continue
        a = by_id.get(d.assignment_id)
        if a is not None and d.clock == ACCEPT_CLOCK:
            a.accepted_on_time = in_time
        elif a is not None and d.clock == REPORT_IN_CLOCK:
            a.reported_in_on_time = in_time
    if case.resolved_at is None and case.resolved_on_time is not None:
        case.resolved_on_time = None  # sent back for redo: the next resolution decides
    _no_limit_means_in_time(assignments, running)


def _no_limit_means_in_time(assignments: Sequence[Assignment], running: Iterable[Deadline]) -> None:
    still_open = {(d.clock, d.assignment_id) for d in running}
    for a in assignments:
        accepted = a.accepted_at is not None and (ACCEPT_CLOCK, a.id) not in still_open
        if a.accepted_on_time is None and accepted:
            a.accepted_on_time = True
        on_site = a.on_site_at is not None and (REPORT_IN_CLOCK, a.id) not in still_open
        if a.reported_in_on_time is None and on_site:
            a.reported_in_on_time = True


def record_ladder_steps(
    case: Case, assignments: Sequence[Assignment], events: Iterable[Event]
) -> None:
    """Count the supervisions and red steps applied in this move.

    The case counts every step. An assignment's clock charges that assignment; a case clock
    (resolve) charges the active lead, if any — a dispatch clock has none, so it stays the
    street's.
    """
    for event in events:
        counter = _LADDER_COUNTERS.get(event.trigger)
        if counter is None:
            continue
        setattr(case, counter, (getattr(case, counter) or 0) + 1)
        target = _charged_assignment(assignments, event.payload or {})
        if target is not None:
            setattr(target, counter, (getattr(target, counter) or 0) + 1)


def _charged_assignment(
    assignments: Sequence[Assignment], payload: dict[str, Any]
) -> Assignment | None:
    assignment_id = payload.get("assignment_id")
    if assignment_id is not None:
        return next((a for a in assignments if a.id == assignment_id), None)
    for a in assignments:
        if a.role == AssignmentRole.LEAD and a.state != AssignmentState.WITHDRAWN:
            return a
    return None
