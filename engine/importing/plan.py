"""Planning one imported case: every row it becomes, its hash chain and its contribution.

Pure: no database. What an imported case records — only facts the source has:
- events ``raise`` and ``dispatch`` at the opening time (the source routed it to the department);
- for a closed row, ``complete`` (the department's assignment, with the source's closing note)
  and ``resolve`` at the closing time; no ``accept`` or ``report_in``, whose times the source does
  not know and an audit trail must not invent;
- ``close`` at the end of the rating window when that has passed by the import (unrated: the
  resident's window is long gone), else the case stays ``resolved`` with its rating clock running.
Clocks: the resolve clock (due at the source's due time, else at the mapping's default target
when it names one, else no resolve clock at all: a row without a target stays out of the on-time
figures rather than be judged by an invented one), met or late at the closing time, or open;
the rating clock while its window still runs (one that ended before the import is the ``close``
event). Ladder steps that fell due before the import are not applied
after the fact (no retroactive reminders or red notices); later ones run.
The evaluation: a done assignment counts as accepted and reported in on time, as the engine counts
any acceptance that had no clock to meet (``engine.case.facts``); the export has no
acceptance times, so for imported history the response rate says nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast

from engine.calendar import WorkCalendar
from engine.case.facts import RESOLVE_CLOCK
from engine.deadline.models import Deadline
from engine.deadline.service import schedule, step_time
from engine.duration import Duration
from engine.importing.catalogue import Placement
from engine.importing.days import RememberedDays
from engine.importing.records import Feed, Record
from engine.rollup.contribution import (
    AssignmentFacts,
    CaseFacts,
    Contribution,
    contribution,
)
from engine.rollup.metrics import Cohort
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    CloseReason,
    DeadlineState,
    Role,
    Source,
    Subject,
    Trigger,
)
from engine.workflow.loader import Workflow
from engine.workflow.schema import LadderStep

RATING_CLOCK = "rating"


@dataclass(frozen=True)
class Context:
    """What planning a case needs besides the record: the feed, the workflow and the calendar."""

    feed: Feed
    workflow: Workflow
    calendar: WorkCalendar
    cohort: Cohort
    now: datetime
    days: RememberedDays = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", RememberedDays(self.calendar))
        for clock in (RESOLVE_CLOCK, RATING_CLOCK):
            if clock not in self.workflow.spec.clocks:
                raise ValueError(
                    f"workflow '{self.workflow.name}' has no '{clock}' clock; imports need it"
                )


@dataclass
class CasePlan:
    """The rows of one case, ready to insert (its contribution goes to the batch's).

    An imported case has one assignment (the source's department); a planned demo history case
    may have more (assisting departments, a lead withdrawn after an upheld objection).
    """

    case: dict[str, Any]
    assignments: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)


class JsonText(str):
    """JSON already serialised (canonically): the bulk writer stores it as it is."""


# ``canonical_json`` with its encoder made once (``json.dumps`` builds one per call).
_canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode

_NO_EVIDENCE = JsonText("[]")


@lru_cache(maxsize=256)
def _word(value: str | None) -> str:
    """The JSON of a vocabulary word (states, triggers, subjects: a few dozen values)."""
    return _canonical(None if value is None else str(value))


class EventKind:
    """One kind of recorded move (trigger, subject, from and to state), with the fixed parts of
    its event's canonical body written out once."""

    __slots__ = ("after", "before", "from_json", "on_assignment", "subject", "tail", "trigger")

    def __init__(self, trigger: Trigger, subject: Subject, before: str | None, after: str):
        self.trigger, self.subject = str(trigger), str(subject)
        self.before, self.after = before, after
        self.on_assignment = subject == Subject.ASSIGNMENT
        self.from_json = _word(before)
        # The body from "subject" on: its keys sort after "seq", the last one that varies.
        self.tail = f'{_word(subject)},"to_state":{_word(after)},"trigger":{_word(trigger)}}}'


# The moves an imported case records.
RAISE = EventKind(Trigger.RAISE, Subject.CASE, None, CaseState.REPORTED)
DISPATCH = EventKind(Trigger.DISPATCH, Subject.CASE, CaseState.REPORTED, CaseState.ASSIGNED)
COMPLETE = EventKind(
    Trigger.COMPLETE, Subject.ASSIGNMENT, AssignmentState.ASSIGNED, AssignmentState.DONE
)
RESOLVE = EventKind(Trigger.RESOLVE, Subject.CASE, CaseState.ASSIGNED, CaseState.RESOLVED)
CLOSE = EventKind(Trigger.CLOSE, Subject.CASE, CaseState.RESOLVED, CaseState.CLOSED)

# One recorded move: when, what kind, its payload (serialised).
Move = tuple[datetime, EventKind, JsonText]

_SYSTEM = _word(Role.SYSTEM)
_IMPORT = _word(Source.IMPORT)


def _at(moment: datetime) -> str:
    """An event time as ``event_body`` writes it."""
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # isoformat pads the year, strftime does not
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _chain(plan: CasePlan, moves: Sequence[Move]) -> None:
    """Append the case's events in order, each linked to the one before.

    The hashed text is ``canonical_json(event_body(event))`` (``engine.event.service``) written
    out here, its keys in sorted order and the payload serialised once, for the hash and the row;
    ``tests/test_import_chain.py`` holds the two to the same text.
    """
    case, aid = plan.case, plan.assignments[0]["id"]
    case_id, prev = case["id"], ""
    last_at: datetime | None = None
    at_text = ""
    for seq, (at, kind, payload) in enumerate(moves, start=1):
        if at is not last_at:  # the moves of one instant share one time object
            last_at, at_text = at, _at(at)
        event_aid = aid if kind.on_assignment else None
        body = (
            f'{{"actor_id":null,"actor_role":{_SYSTEM},'
            f'"assignment_id":{"null" if event_aid is None else event_aid},"at":"{at_text}",'
            f'"case_id":{case_id},"from_state":{kind.from_json},"payload":{payload},'
            f'"seq":{seq},"subject":{kind.tail}'
        )
        prev_hash, prev = prev, hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
        plan.events.append({
            "case_id": case_id, "seq": seq, "at": at, "actor_id": None,
            "actor_role": Role.SYSTEM, "trigger": kind.trigger, "subject": kind.subject,
            "assignment_id": event_aid, "from_state": kind.before, "to_state": kind.after,
            "payload": payload, "prev_hash": prev_hash, "hash": prev,
        })  # fmt: skip
    case["event_count"], case["last_hash"] = len(moves), prev
    case["updated_at"] = moves[-1][0]


def _first_step_after(deadline: Deadline, ladder: Sequence[LadderStep], ctx: Context) -> int:
    """How many ladder steps fell due before the import: those are not applied after the fact."""
    index = 0
    calendar = cast(WorkCalendar, ctx.days)  # the same answers, day bounds remembered
    while index < len(ladder) and step_time(deadline, ladder[index], calendar) <= ctx.now:
        index += 1
    return index


class _DeadlineRow(SimpleNamespace):
    """The attributes ``schedule`` and ``step_time`` read and set, without an ORM object."""


class _Facts:
    """A planned row read by attribute, as ``contribution`` reads a case or an assignment."""

    @classmethod
    def of(cls, row: dict[str, Any]) -> _Facts:
        """The row itself as the attributes: no copy (a case row has some fifty columns)."""
        facts = cls()
        facts.__dict__ = row
        return facts


def _deadline(
    ctx: Context, case_id: int, clock: str, limit: str, start: datetime, due: datetime,
    closed: tuple[DeadlineState, datetime] | None,
) -> dict[str, Any]:  # fmt: skip
    ladder = ctx.workflow.spec.ladder_of(clock)
    row = _DeadlineRow(
        case_id=case_id, assignment_id=None, clock=clock, limit=limit, started_at=start,
        due_at=due, state=DeadlineState.OPEN, closed_at=None, extension_count=0, step_index=0,
        next_step=None, next_fire_at=None, claim_token=None, claimed_at=None,
    )  # fmt: skip
    d = cast(Deadline, row)
    if closed is None:
        d.step_index = _first_step_after(d, ladder, ctx)
    else:
        d.state, d.closed_at = closed
    schedule(d, ladder, cast(WorkCalendar, ctx.days))
    return vars(row)


def _resolve_by(ctx: Context, record: Record) -> tuple[str, datetime] | None:
    """The source's own target; the mapping's default target; else none (no invented one)."""
    if record.resolve_by is not None:
        seconds = int((record.resolve_by - record.opened_at).total_seconds())
        return f"{max(seconds, 1)}s", record.resolve_by
    default = ctx.feed.default_target
    if default is None:
        return None
    if not isinstance(default, Duration):  # WORKFLOW_LIMIT, the only other value
        default = ctx.workflow.spec.clocks[RESOLVE_CLOCK].limits[record.priority]
    return str(default), ctx.days.add(record.opened_at, default)


def plan_case(
    record: Record,
    placement: Placement,
    *,
    case_id: int,
    assignment_id: int,
    ctx: Context,
    rollups: Contribution,
) -> CasePlan:
    """Every row one record becomes, with its hash chain; its contribution is added to
    ``rollups`` (a batch's total: one dict for the batch, not one per case)."""
    feed, opened, closed = ctx.feed.name, record.opened_at, record.closed_at
    area = placement.area
    state = CaseState.ASSIGNED if closed is None else CaseState.RESOLVED
    target = _resolve_by(ctx, record)
    window_end: datetime | None = None
    if closed is not None:
        window_end = ctx.days.add(
            closed, ctx.workflow.spec.clocks[RATING_CLOCK].limits[record.priority]
        )
    unrated_and_over = window_end is not None and window_end <= ctx.now
    plan = CasePlan(
        case={
            "id": case_id, "workflow": ctx.workflow.name,
            "state": CaseState.CLOSED if unrated_and_over else state,
            "priority": record.priority, "title": record.title, "description": record.description,
            "category_id": placement.category_id, "area_id": area.id, "area_path": area.path,
            "street_id": area.street_id, "community_id": None, "latitude": record.latitude,
            "longitude": record.longitude, "address": record.address, "reporter_name": None,
            "reporter_phone": None, "reporter_account_id": None, "raised_by_id": None,
            "source": Source.IMPORT, "source_ref": record.source_ref, "created_at": opened,
            "dispatched_at": opened, "resolved_at": closed,
            "rated_at": None, "closed_at": window_end if unrated_and_over else None,
            "rating": None, "solved": None, "stars": None, "rating_comment": None,
            "verified_solved": None, "redo_count": 0, "extension_count": 0,
            "merged_into_id": None, "cancel_reason": None, "excluded": False,
            "exclusion_reason": None,
            # Out of the on-time figures without a target (it still counts in volume).
            "resolved_on_time": None if closed is None or target is None else closed <= target[1],
            "supervise_count": 0, "red_count": 0, "callback_attempts": 0,
            "callback_outcome": None, "callback_at": None, "callback_days": 0,
            "close_reason": CloseReason.UNRATED if unrated_and_over else None, "version": 1,
        },
        assignments=[{
            "id": assignment_id, "case_id": case_id, "org_id": placement.department_id,
            "role": AssignmentRole.LEAD,
            "state": AssignmentState.ASSIGNED if closed is None else AssignmentState.DONE,
            "objected_from": None, "objection_reason": None, "created_at": opened,
            "accepted_at": None, "on_site_at": None, "done_at": closed, "withdrawn_at": None,
            "result": record.result, "evidence": _NO_EVIDENCE, "service_hours": None,
            # No clock to meet was ever set for the source's acceptance: in time, as the engine
            # counts it (see the module docstring); None while not done.
            "accepted_on_time": None if closed is None else True,
            "reported_in_on_time": None if closed is None else True,
            "supervise_count": 0, "red_count": 0, "version": 1,
        }],
    )  # fmt: skip
    # The payloads in their canonical JSON, written out with their keys in sorted order.
    feed_json = _word(feed)
    facts = f'"facts":{_canonical(dict(record.facts))},' if record.facts else ""
    raised = JsonText(
        f'{{"area_id":{area.id:d},{facts}"import":{feed_json},"priority":{_word(record.priority)},'
        f'"source":{_IMPORT},"source_ref":{_canonical(record.source_ref)},'
        f'"workflow":{_word(ctx.workflow.name)}}}'
    )
    dispatched = JsonText(
        f'{{"assignments":[{assignment_id:d}],"assisting":[],"import":{feed_json},'
        f'"lead":{placement.department_id:d}}}'
    )
    moves: list[Move] = [(opened, RAISE, raised), (opened, DISPATCH, dispatched)]
    if target is not None:
        limit, due = target
        outcome = None
        if closed is not None:
            outcome = (DeadlineState.MET if closed <= due else DeadlineState.LATE, closed)
        plan.deadlines.append(_deadline(ctx, case_id, RESOLVE_CLOCK, limit, opened, due, outcome))
    if closed is not None:
        assert window_end is not None
        result = record.result or "closed in the source system"
        moves += [
            (closed, COMPLETE,
             JsonText(f'{{"import":{feed_json},"result":{_canonical(result)}}}')),
            (closed, RESOLVE, JsonText(f'{{"import":{feed_json}}}')),
        ]  # fmt: skip
        if unrated_and_over:
            moves.append((window_end, CLOSE, JsonText(
                f'{{"clock":{_word(RATING_CLOCK)},"clock_due_at":{_canonical(_stamp(window_end))},'
                f'"import":{feed_json}}}'
            )))  # fmt: skip
        else:
            rating_limit = str(ctx.workflow.spec.clocks[RATING_CLOCK].limits[record.priority])
            plan.deadlines.append(
                _deadline(ctx, case_id, RATING_CLOCK, rating_limit, closed, window_end, None)
            )
    _chain(plan, moves)
    contribution(
        cast(CaseFacts, _Facts.of(plan.case)),
        [cast(AssignmentFacts, _Facts.of(a)) for a in plan.assignments],
        calendar=cast(WorkCalendar, ctx.days),
        cohort=ctx.cohort,
        into=rollups,
    )
    return plan


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
