"""One demo history case from raise to rating, drawn from its own seeded generator: what happened,
when, by whom, and which clocks ran (pure: no database, no ids yet).

The moves are those the live services record (``engine.case``): raise, dispatch, accept (and
``lead_accepted``), report in, complete (and ``resolve``), rate; an objection upheld and the case
dispatched again; a call cancelled as a repeat. Every time is drawn against the clock that judges
it — most within the limit, some past it — so the clocks' outcomes, and the escalation steps a
running worker would have applied (``engine.demo.rows``), follow from the times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.calendar import WorkCalendar
from engine.demo.templates import CANCELLED, OBJECTION, UPHELD, Template
from engine.duration import Duration
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CallbackOutcome,
    CaseState,
    DeadlineState,
    Priority,
    Rating,
    Role,
    Source,
    Subject,
    Trigger,
)
from engine.workflow.loader import Workflow

# Shares of what happens; the rest of each is the ordinary course.
WHISTLE_SHARE = 0.35  # raised by a grid worker (street whistle); else a resident's hotline call
URGENT_SHARE = 0.06
CANCELLED_SHARE = 0.015  # a repeated call, cancelled before dispatch
OBJECTION_SHARE = 0.04  # dispatched to the wrong department, objection upheld, dispatched again
LATE = {"dispatch": 0.04, "accept": 0.06, "report_in": 0.08, "resolve": 0.10}
RATED_SHARE = 0.85  # the others close unrated when the rating window ends
GRADES = ((Rating.SATISFIED, 0.72), (Rating.BASICALLY_SATISFIED, 0.18))  # the rest dissatisfied
GRADES_WHEN_LATE = ((Rating.SATISFIED, 0.45), (Rating.BASICALLY_SATISFIED, 0.25))


@dataclass(frozen=True, slots=True)
class Place:
    """A grid of the demo city, where a case is raised."""

    grid_id: int
    path: str
    community_id: int
    street_id: int
    community_zh: str
    community_en: str


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of case, the category of the demo city it is filed under, and the departments
    that category's routing rule names."""

    template: Template
    category_id: int
    lead_id: int
    assisting_ids: tuple[int, ...]


@dataclass(frozen=True)
class People:
    """The demo accounts who act: account id by scope (org id) and the residents."""

    residents: tuple[int, ...]
    grid_workers: dict[int, int]  # community id → account
    street_centres: dict[int, int]  # street id → account
    departments: dict[int, int]  # department id → account


@dataclass(frozen=True)
class Ref:
    """An id not known while drawing: an assignment or a deadline of the case, by its index."""

    table: str  # "assignment" or "deadline"
    index: int


@dataclass(slots=True)
class Move:
    """One recorded move; payload values may be ``Ref``s."""

    at: datetime
    actor_id: int | None
    role: Role
    trigger: Trigger
    subject: Subject
    assignment: int | None  # index
    before: str | None
    after: str | None
    payload: dict[str, Any]


@dataclass(slots=True)
class Clock:
    """One clock that ran: its limit, when it started, fell due and ended, and how."""

    name: str
    assignment: int | None  # index
    limit: Duration
    started_at: datetime
    due_at: datetime
    ended_at: datetime
    state: DeadlineState
    # Ended by its own ladder's last step (the rating window's ``close``), not by a move.
    by_ladder: bool = False


@dataclass(slots=True)
class Work:
    """One assignment's life."""

    org_id: int
    role: AssignmentRole
    created_at: datetime
    state: AssignmentState = AssignmentState.ASSIGNED
    accepted_at: datetime | None = None
    on_site_at: datetime | None = None
    done_at: datetime | None = None
    withdrawn_at: datetime | None = None
    objection_reason: str | None = None
    result: str | None = None


@dataclass
class Life:
    """Everything one case went through, without its ids."""

    ref: str
    workflow: str
    source: Source
    priority: Priority
    place: Place
    kind: Kind
    raised_by: int
    reporter: int | None
    title: str
    description: str
    state: CaseState = CaseState.REPORTED
    dispatched_at: datetime | None = None
    resolved_at: datetime | None = None
    rated_at: datetime | None = None
    closed_at: datetime | None = None
    # The callback that reached the resident before the centre recorded the rating it heard.
    callback_at: datetime | None = None
    rating: Rating | None = None
    cancel_reason: str | None = None
    work: list[Work] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)

    @property
    def ended_at(self) -> datetime:
        """When the last thing happened: the last move, or the rating window closing it."""
        last = max(m.at for m in self.moves)
        return last if self.closed_at is None else max(last, self.closed_at)


class _Drawer:
    """Draws one case's life, move by move."""

    def __init__(
        self, rng: random.Random, workflow: Workflow, calendar: WorkCalendar, people: People
    ) -> None:
        self.rng, self.workflow, self.calendar, self.people = rng, workflow, calendar, people

    def limit(self, clock: str, priority: Priority) -> Duration:
        return self.workflow.spec.clocks[clock].limits[priority]

    def within(self, clock: str, life: Life, start: datetime, low: float, high: float,
               *, late: bool = False) -> datetime:  # fmt: skip
        """A time drawn between ``low`` and ``high`` of the clock's span from ``start`` (most
        early, a few late in it); with ``late``, past its due time by up to 1.2 limits."""
        limit = self.limit(clock, life.priority)
        due = self.calendar.add(start, limit)
        # Within: a share of [start, due]. Late: a share of one more limit after the due time.
        origin, end = (due, self.calendar.add(due, limit)) if late else (start, due)
        if late:
            low, high = 0.05, 1.2
        share = low + (high - low) * self.rng.random() ** 2  # most quick, a few slow
        if limit.is_working_days:
            span = self.calendar.working_seconds_between(origin, end)
            at = self.calendar.add_working_seconds(origin, span * share)
        else:
            at = origin + (end - origin) * share
        return at.replace(microsecond=0)

    def late(self, clock: str) -> bool:
        return self.rng.random() < LATE[clock]

    def clock(self, life: Life, name: str, assignment: int | None, start: datetime,
              end: datetime, state: DeadlineState | None = None) -> None:  # fmt: skip
        limit = self.limit(name, life.priority)
        due = self.calendar.add(start, limit)
        if state is None:
            state = DeadlineState.MET if end <= due else DeadlineState.LATE
        life.clocks.append(Clock(name, assignment, limit, start, due, end, state))

    def move(self, life: Life, at: datetime, actor: int | None, role: Role, trigger: Trigger,
             before: str | None, after: str | None, payload: dict[str, Any] | None = None,
             assignment: int | None = None) -> None:  # fmt: skip
        subject = Subject.CASE if assignment is None else Subject.ASSIGNMENT
        life.moves.append(
            Move(at, actor, role, trigger, subject, assignment, before, after, payload or {})
        )

    def centre(self, life: Life) -> int:
        return self.people.street_centres[life.place.street_id]

    def department(self, org_id: int) -> int | None:
        return self.people.departments.get(org_id)


def draw_life(
    *,
    number: int,
    raised_at: datetime,
    rng: random.Random,
    places: list[Place],
    kinds: list[Kind],
    departments: list[int],
    people: People,
    workflows: dict[str, Workflow],
    calendar: WorkCalendar,
    language: str,
    ref_prefix: str,
) -> Life:
    """The whole life of history case ``number``, raised at ``raised_at``."""
    place = rng.choice(places)
    kind = rng.choices(kinds, weights=[k.template.weight for k in kinds])[0]
    by_grid = rng.random() < WHISTLE_SHARE and place.community_id in people.grid_workers
    resident = rng.choice(people.residents)
    template = kind.template
    names = {"place": place.community_zh if language == "zh" else place.community_en,
             "n": rng.randint(1, 40)}  # fmt: skip
    life = Life(
        ref=f"{ref_prefix}{number:06d}",
        workflow="street_whistle" if by_grid else "hotline",
        source=Source.WHISTLE if by_grid else Source.HOTLINE,
        priority=Priority.URGENT if rng.random() < URGENT_SHARE else Priority.NORMAL,
        place=place, kind=kind,
        raised_by=people.grid_workers[place.community_id] if by_grid else resident,
        reporter=None if by_grid else resident,
        title=template.title.of(language).format(**names),
        description=template.details.of(language).format(**names),
    )  # fmt: skip
    d = _Drawer(rng, workflows[life.workflow], calendar, people)
    raiser_role = Role.GRID if by_grid else Role.RESIDENT
    d.move(life, raised_at, life.raised_by, raiser_role, Trigger.RAISE, None, CaseState.REPORTED,
           {"workflow": life.workflow, "priority": str(life.priority),
            "area_id": place.grid_id})  # fmt: skip
    if not by_grid and rng.random() < CANCELLED_SHARE:
        _cancel(d, life, raised_at, language)
        return life
    start = raised_at
    if rng.random() < OBJECTION_SHARE:
        # Some other department with a clerk to object (one that has none could not).
        others = [o for o in departments if o != kind.lead_id and o in people.departments]
        wrong = rng.choice(others or [kind.lead_id])
        start = _objection_upheld(d, life, start, wrong, language)
    _dispatch(d, life, start, [kind.lead_id, *kind.assisting_ids])
    _work(d, life, template, language)
    _rate_or_close(d, life)
    return life


def _cancel(d: _Drawer, life: Life, raised_at: datetime, language: str) -> None:
    at = d.within("dispatch", life, raised_at, 0.05, 0.6)
    reason = CANCELLED.of(language)
    d.move(life, at, d.centre(life), Role.COMMAND_CENTRE, Trigger.CANCEL, CaseState.REPORTED,
           CaseState.CANCELLED, {"reason": reason})  # fmt: skip
    d.clock(life, "dispatch", None, raised_at, at, DeadlineState.CANCELLED)
    life.state, life.cancel_reason, life.closed_at = CaseState.CANCELLED, reason, at


def _dispatch(d: _Drawer, life: Life, start: datetime, orgs: list[int]) -> datetime:
    """Dispatch to ``orgs`` (the lead first); the assignments are appended to ``life.work``."""
    at = d.within("dispatch", life, start, 0.05, 0.9, late=d.late("dispatch"))
    d.clock(life, "dispatch", None, start, at)
    first = len(life.work)
    for i, org in enumerate(orgs):
        role = AssignmentRole.LEAD if i == 0 else AssignmentRole.ASSISTING
        life.work.append(Work(org, role, at))
    d.move(life, at, d.centre(life), Role.COMMAND_CENTRE, Trigger.DISPATCH, life.state,
           CaseState.ASSIGNED, {"lead": orgs[0], "assisting": orgs[1:],
           "assignments": [Ref("assignment", first + i) for i in range(len(orgs))]})  # fmt: skip
    life.state = CaseState.ASSIGNED
    if life.dispatched_at is None:
        life.dispatched_at = at  # the first dispatch files the case (as the live services do)
    return at


def _objection_upheld(
    d: _Drawer, life: Life, start: datetime, wrong: int, language: str
) -> datetime:
    """Dispatched to ``wrong``, which objects; the street upholds it. Returns when it is back."""
    at = _dispatch(d, life, start, [wrong])
    index = len(life.work) - 1
    work = life.work[index]
    objected = d.within("accept", life, at, 0.1, 0.7)
    reason = OBJECTION.of(language)
    dept = d.department(wrong)
    d.move(life, objected, dept, Role.DEPARTMENT, Trigger.OBJECT, AssignmentState.ASSIGNED,
           AssignmentState.OBJECTED, {"reason": reason}, index)  # fmt: skip
    d.move(life, objected, None, Role.SYSTEM, Trigger.LEAD_OBJECTED, CaseState.ASSIGNED,
           CaseState.RETURNED, {"assignment_id": Ref("assignment", index)})  # fmt: skip
    upheld = d.within("objection_review", life, objected, 0.02, 0.6)
    d.move(life, upheld, d.centre(life), Role.COMMAND_CENTRE, Trigger.UPHOLD_OBJECTION,
           AssignmentState.OBJECTED, AssignmentState.WITHDRAWN, {"reason": UPHELD.of(language)},
           index)  # fmt: skip
    d.move(life, upheld, None, Role.SYSTEM, Trigger.OBJECTION_UPHELD, CaseState.RETURNED,
           CaseState.REPORTED, {"assignment_id": Ref("assignment", index)})  # fmt: skip
    for name in ("accept", "report_in"):
        d.clock(life, name, index, at, upheld, DeadlineState.CANCELLED)
    d.clock(life, "resolve", None, at, upheld, DeadlineState.CANCELLED)
    d.clock(life, "objection_review", index, objected, upheld)
    work.state, work.withdrawn_at, work.objection_reason = (
        AssignmentState.WITHDRAWN, upheld, reason)  # fmt: skip
    life.state = CaseState.REPORTED
    return upheld


def _work(d: _Drawer, life: Life, template: Template, language: str) -> None:
    """Every live assignment accepted, on site and done; the case resolved with its lead."""
    live = [i for i, w in enumerate(life.work) if w.state == AssignmentState.ASSIGNED]
    start = life.work[live[0]].created_at
    for i in live:
        w = life.work[i]
        w.accepted_at = d.within("accept", life, start, 0.05, 0.9, late=d.late("accept"))
        on_site = d.within("report_in", life, start, 0.1, 0.9, late=d.late("report_in"))
        w.on_site_at = max(on_site, w.accepted_at + timedelta(minutes=5))
        d.clock(life, "accept", i, start, w.accepted_at)
        d.clock(life, "report_in", i, start, w.on_site_at)
    floor = max(life.work[i].on_site_at or start for i in live)
    limit = d.limit("resolve", life.priority)
    due = d.calendar.add(start, limit)
    if d.late("resolve"):
        done = d.within("resolve", life, start, 0.0, 0.0, late=True)
        done = max(done, floor + timedelta(hours=1))
    else:
        done = floor + (due - floor) * (0.05 + 0.9 * d.rng.random() ** 1.5)
    done = done.replace(microsecond=0)
    d.clock(life, "resolve", None, start, done)
    lead = live[0]
    # Assisting departments finish first: the case resolves when its lead submits the result.
    for i in live[1:]:
        w = life.work[i]
        assert w.on_site_at is not None
        w.done_at = (w.on_site_at + (done - w.on_site_at) * (0.2 + 0.7 * d.rng.random())).replace(
            microsecond=0
        )
    life.work[lead].done_at = done
    for i in live:
        w = life.work[i]
        dept = d.department(w.org_id)
        assert w.accepted_at is not None
        assert w.on_site_at is not None
        assert w.done_at is not None
        d.move(life, w.accepted_at, dept, Role.DEPARTMENT, Trigger.ACCEPT,
               AssignmentState.ASSIGNED, AssignmentState.ACCEPTED, {}, i)  # fmt: skip
        if i == lead:
            d.move(life, w.accepted_at, None, Role.SYSTEM, Trigger.LEAD_ACCEPTED,
                   CaseState.ASSIGNED, CaseState.REPORTING_IN,
                   {"assignment_id": Ref("assignment", i)})  # fmt: skip
        d.move(life, w.on_site_at, dept, Role.DEPARTMENT, Trigger.REPORT_IN,
               AssignmentState.ACCEPTED, AssignmentState.ON_SITE, {}, i)  # fmt: skip
        w.result = template.reply.of(language)
        d.move(life, w.done_at, dept, Role.DEPARTMENT, Trigger.COMPLETE, AssignmentState.ON_SITE,
               AssignmentState.DONE, {"result": w.result, "evidence": []}, i)  # fmt: skip
        w.state = AssignmentState.DONE
    d.move(life, done, None, Role.SYSTEM, Trigger.RESOLVE, CaseState.REPORTING_IN,
           CaseState.RESOLVED)  # fmt: skip
    life.state, life.resolved_at = CaseState.RESOLVED, done


def _rate_or_close(d: _Drawer, life: Life) -> None:
    """The resident rates (else the centre, after a callback that reached the resident), or the
    window closes it."""
    assert life.resolved_at is not None
    resolved = life.resolved_at
    if d.rng.random() >= RATED_SHARE:
        limit = d.limit("rating", life.priority)
        due = d.calendar.add(resolved, limit)
        # Ended by its own ladder: the close step at 100 % (see ``engine.demo.rows``).
        life.clocks.append(Clock("rating", None, limit, resolved, due, due,
                                 DeadlineState.CANCELLED, by_ladder=True))  # fmt: skip
        life.state, life.closed_at = CaseState.CLOSED, due
        return
    at = d.within("rating", life, resolved, 0.02, 0.9)
    late = any(c.state == DeadlineState.LATE for c in life.clocks)
    pick = d.rng.random()
    grade = Rating.DISSATISFIED
    for candidate, share in GRADES_WHEN_LATE if late else GRADES:
        if pick < share:
            grade = candidate
            break
        pick -= share
    rater, role = (
        (life.reporter, Role.RESIDENT) if life.reporter is not None
        else (d.centre(life), Role.COMMAND_CENTRE)
    )  # fmt: skip
    if role == Role.COMMAND_CENTRE:
        # The centre rates what it heard on a callback that reached the resident, just before.
        call = at - (at - resolved) / 10
        d.move(life, call, rater, role, Trigger.CALLBACK, CaseState.RESOLVED, CaseState.RESOLVED,
               {"outcome": str(CallbackOutcome.REACHED), "attempt": 1,
                "called_at": call.isoformat()})  # fmt: skip
        life.callback_at = call
    d.move(life, at, rater, role, Trigger.RATE, CaseState.RESOLVED, CaseState.RATED,
           {"solved": grade != Rating.DISSATISFIED, "rating": str(grade)})  # fmt: skip
    d.clock(life, "rating", None, resolved, at)
    life.state, life.rated_at, life.rating = CaseState.RATED, at, grade
