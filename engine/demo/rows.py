"""A drawn demo history case (``engine.demo.lifecycle``) as the rows the bulk writer inserts:
the case, its assignments, its clocks, its hash-chained events and its rollup contribution.

Pure: the ids come in. The escalation steps are those a running worker would have applied: each
step of a clock's ladder that fell due before the clock ended, with the effects the live step has
(an overdue accept or report-in clock decides the response late; a supervision or red step counts
on the case and on the assignment it charges). The contribution is ``engine.rollup``'s own
function over the finished rows, so the rollups equal a recompute by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from engine.calendar import WorkCalendar
from engine.clock import utc_stamp
from engine.deadline.models import Deadline
from engine.deadline.service import step_time
from engine.demo.lifecycle import Clock, Life, Move, Ref, Work
from engine.event.models import Event
from engine.event.service import event_body, link_hash
from engine.importing.plan import CasePlan
from engine.rollup.contribution import AssignmentFacts, CaseFacts, Contribution, contribution
from engine.rollup.metrics import Cohort
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    CaseState,
    CloseReason,
    DeadlineState,
    Role,
    Subject,
    Trigger,
)
from engine.workflow.loader import Workflow

_COUNTERS = {Trigger.SUPERVISE: "supervise_count", Trigger.RED: "red_count"}
_LATE_FLAGS = {"accept": "accepted_on_time", "report_in": "reported_in_on_time"}


@dataclass(frozen=True)
class Ids:
    """The ids a case's rows take (assignments and deadlines in the order of the life's)."""

    case: int
    assignments: list[int]
    deadlines: list[int]

    def assignment(self, index: int | None) -> int | None:
        return None if index is None else self.assignments[index]

    def of(self, value: Any) -> Any:
        """``value`` with every ``Ref`` replaced by its id."""
        if isinstance(value, Ref):
            return (self.assignments if value.table == "assignment" else self.deadlines)[
                value.index
            ]
        if isinstance(value, list):
            return [self.of(v) for v in value]
        if isinstance(value, dict):
            return {k: self.of(v) for k, v in value.items()}
        return value


def _active_lead(work: list[Work], at: datetime) -> int | None:
    """The lead assignment (index) working the case at ``at``, if any."""
    for i, w in enumerate(work):
        if w.role != AssignmentRole.LEAD or w.created_at > at:
            continue
        if w.withdrawn_at is None or w.withdrawn_at > at:
            return i
    return None


def _ladder(
    life: Life, clock: Clock, index: int, ids: Ids, workflow: Workflow, calendar: WorkCalendar,
    counters: dict[tuple[int | None, str], int], flags: dict[tuple[int, str], bool],
) -> tuple[list[Move], int]:  # fmt: skip
    """The ladder steps the clock reached before it ended, and how many."""
    moves = []
    shape = cast(Deadline, SimpleNamespace(limit=str(clock.limit), started_at=clock.started_at,
                                           due_at=clock.due_at))  # fmt: skip
    steps = workflow.spec.ladder_of(clock.name)
    for step_index, step in enumerate(steps):
        at = step_time(shape, step, calendar)
        if at > clock.ended_at or (at == clock.ended_at and not clock.by_ladder):
            break
        payload = {
            "clock": clock.name, "deadline_id": ids.deadlines[index],
            "assignment_id": ids.assignment(clock.assignment),
            "step_index": step_index, "due_at": utc_stamp(at),
            "clock_due_at": utc_stamp(clock.due_at),
        }  # fmt: skip
        if step.step == Trigger.CLOSE:
            payload["close_reason"] = str(CloseReason.UNRATED)
        after = CaseState.CLOSED if step.step == Trigger.CLOSE else None
        moves.append(Move(at, None, Role.SYSTEM, step.step, Subject.CASE, None, None, after,
                          payload))  # fmt: skip
        if step.step == Trigger.OVERDUE and clock.assignment is not None:
            flag = _LATE_FLAGS.get(clock.name)
            if flag is not None:
                flags[(clock.assignment, flag)] = False
        counter = _COUNTERS.get(step.step)
        if counter is not None:
            counters[(None, counter)] = counters.get((None, counter), 0) + 1
            charged = clock.assignment if clock.assignment is not None else (
                _active_lead(life.work, at))  # fmt: skip
            if charged is not None:
                counters[(charged, counter)] = counters.get((charged, counter), 0) + 1
    return moves, len(moves)


def plan_life(
    life: Life,
    ids: Ids,
    *,
    workflow: Workflow,
    calendar: WorkCalendar,
    cohort: Cohort,
    rollups: Contribution,
) -> CasePlan:
    """Every row of one drawn case; its contribution is added to ``rollups``."""
    counters: dict[tuple[int | None, str], int] = {}
    flags: dict[tuple[int, str], bool] = {}
    moves = list(life.moves)
    deadlines = []
    for index, clock in enumerate(life.clocks):
        steps, applied = _ladder(life, clock, index, ids, workflow, calendar, counters, flags)
        moves += steps
        if clock.assignment is not None and clock.state in (DeadlineState.MET, DeadlineState.LATE):
            flag = _LATE_FLAGS.get(clock.name)
            if flag is not None:
                flags[(clock.assignment, flag)] = clock.state == DeadlineState.MET
        deadlines.append({
            "id": ids.deadlines[index], "case_id": ids.case,
            "assignment_id": ids.assignment(clock.assignment),
            "clock": clock.name, "limit": str(clock.limit), "started_at": clock.started_at,
            "due_at": clock.due_at, "state": clock.state, "closed_at": clock.ended_at,
            "extension_count": 0, "step_index": applied, "next_step": None, "next_fire_at": None,
            "claim_token": None, "claimed_at": None,
        })  # fmt: skip
    moves.sort(key=lambda m: m.at)  # stable: moves of one instant keep their order
    resolve = [c for c in life.clocks if c.name == "resolve"]
    plan = CasePlan(
        case=_case_row(life, ids, counters, resolve[-1] if resolve else None),
        assignments=[
            _assignment_row(life, w, i, ids, counters, flags) for i, w in enumerate(life.work)
        ],
        deadlines=deadlines,
    )
    _chain(plan, moves, ids)
    contribution(
        cast(CaseFacts, SimpleNamespace(**plan.case)),
        [cast(AssignmentFacts, SimpleNamespace(**a)) for a in plan.assignments],
        calendar=calendar, cohort=cohort, into=rollups,
    )  # fmt: skip
    return plan


def _case_row(
    life: Life, ids: Ids, counters: dict[tuple[int | None, str], int], resolve: Clock | None
) -> dict[str, Any]:
    place = life.place
    on_time = None
    if life.resolved_at is not None and resolve is not None:
        on_time = resolve.state == DeadlineState.MET
    return {
        "id": ids.case, "workflow": life.workflow, "state": life.state,
        "priority": life.priority, "title": life.title, "description": life.description,
        "category_id": life.kind.category_id, "area_id": place.grid_id, "area_path": place.path,
        "street_id": place.street_id, "community_id": place.community_id, "latitude": None,
        "longitude": None, "address": None, "reporter_name": None, "reporter_phone": None,
        "reporter_account_id": life.reporter, "raised_by_id": life.raised_by,
        "source": life.source, "source_ref": life.ref, "created_at": life.moves[0].at,
        "dispatched_at": life.dispatched_at, "resolved_at": life.resolved_at,
        "rated_at": life.rated_at, "closed_at": life.closed_at,
        "rating": None if life.rating is None else str(life.rating),
        "solved": None if life.rating is None else life.rating != "dissatisfied",
        "stars": None, "rating_comment": None, "verified_solved": None, "redo_count": 0,
        "extension_count": 0, "merged_into_id": None, "cancel_reason": life.cancel_reason,
        "excluded": False, "exclusion_reason": None, "resolved_on_time": on_time,
        "supervise_count": counters.get((None, "supervise_count"), 0),
        "red_count": counters.get((None, "red_count"), 0),
        "callback_attempts": 0 if life.callback_at is None else 1,
        "callback_outcome": None if life.callback_at is None else str(CallbackOutcome.REACHED),
        "callback_at": life.callback_at, "callback_days": 0,
        # A demo case closes unrated only by its rating window, no callback having been tried.
        "close_reason": str(CloseReason.UNRATED) if life.state == CaseState.CLOSED else None,
        "version": len({m.at for m in life.moves if m.role != Role.SYSTEM}),
    }  # fmt: skip


def _assignment_row(
    life: Life, w: Work, index: int, ids: Ids, counters: dict[tuple[int | None, str], int],
    flags: dict[tuple[int, str], bool],
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": ids.assignments[index], "case_id": ids.case, "org_id": w.org_id, "role": w.role,
        "state": w.state,
        "objected_from": AssignmentState.ASSIGNED if w.objection_reason is not None else None,
        "objection_reason": w.objection_reason, "created_at": w.created_at,
        "accepted_at": w.accepted_at, "on_site_at": w.on_site_at, "done_at": w.done_at,
        "withdrawn_at": w.withdrawn_at, "result": w.result, "evidence": [],
        "service_hours": None,
        "accepted_on_time": flags.get((index, "accepted_on_time")),
        "reported_in_on_time": flags.get((index, "reported_in_on_time")),
        "supervise_count": counters.get((index, "supervise_count"), 0),
        "red_count": counters.get((index, "red_count"), 0),
        "version": 1 + sum(1 for m in life.moves if m.assignment == index),
    }  # fmt: skip


def _chain(plan: CasePlan, moves: list[Move], ids: Ids) -> None:
    """The case's events in order, each hashed over the one before (``engine.event.service``)."""
    case, prev, state = plan.case, "", None
    for seq, m in enumerate(moves, start=1):
        before, after = m.before, m.after
        if m.subject == Subject.CASE:
            if m.trigger in (Trigger.REMIND, Trigger.OVERDUE, Trigger.SUPERVISE, Trigger.RED):
                before = after = state  # a ladder step leaves the case where it is
            elif m.trigger == Trigger.CLOSE:
                before = state
            state = after
        row = {
            "case_id": ids.case, "seq": seq, "at": m.at, "actor_id": m.actor_id,
            "actor_role": m.role, "trigger": str(m.trigger), "subject": str(m.subject),
            "assignment_id": ids.assignment(m.assignment),
            "from_state": None if before is None else str(before),
            "to_state": None if after is None else str(after), "payload": ids.of(m.payload),
        }  # fmt: skip
        body = event_body(cast(Event, SimpleNamespace(**row)))
        row["prev_hash"], prev = prev, link_hash(prev, body)
        row["hash"] = prev
        plan.events.append(row)
    case["event_count"], case["last_hash"] = len(moves), prev
    case["updated_at"] = moves[-1].at
