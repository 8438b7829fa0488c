"""Reading cases as an actor: filtered, searched, sorted and paged lists; one case in detail.

Every query is scoped by the actor with the same rules as ``engine.access.can_see_case``, written
as SQL (``visible_to``) so that a page never holds a case the actor may not see. A case outside
the scope is "not found", exactly like a case that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine.access import DEMAND_WORKFLOW, Actor, can_see_case
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.service import allowed_on_assignment, allowed_on_case
from engine.case.unit import CaseUnit
from engine.deadline.models import Deadline
from engine.errors import Forbidden, NotFound, OutOfScope
from engine.event.models import Event
from engine.organisation.models import Category, OrgNode
from engine.privacy import case_text, reads_text_redacted, reporter_view
from engine.runtime import Runtime
from engine.vocabulary import (
    AssignmentState,
    CallbackOutcome,
    CaseState,
    DeadlineState,
    Priority,
    Role,
    Source,
    Subject,
    Trigger,
)

T = TypeVar("T")
MAX_LIMIT = 100
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Sort = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority", "id", "-id"
]


def _iso_only(value: Any) -> Any:
    """Refuse what pydantic would read as seconds since 1970 ('0.5', 1700000000): the document
    promises RFC 3339 date-times, and a number is almost always a mistake."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*", value)
    ):
        raise ValueError(
            "expected an RFC 3339 date-time with a zone, like 2026-03-01T00:00:00+08:00"
        )
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


class CaseQuery(BaseModel):
    """Filters, search, order and page of a case list."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: list[CaseState] = Field(default_factory=list, description="any of these states")
    street_id: Id | None = None
    community_id: Id | None = None
    category_id: Id | None = Field(default=None, description="this category or any below it")
    department_id: Id | None = Field(
        default=None, description="cases with an assignment (not withdrawn) of this department"
    )
    priority: Priority | None = None
    source: Source | None = Field(default=None, description="where the case came from")
    overdue: bool | None = Field(default=None, description="has a running clock past its due")
    callback_due: bool | None = Field(
        default=None, description="resolved, and no callback (回访) has reached the resident yet"
    )
    created_from: IsoDatetime | None = Field(default=None, description="inclusive")
    created_to: IsoDatetime | None = Field(default=None, description="exclusive")
    q: str | None = Field(
        default=None, min_length=1, max_length=100, description="text in title or description"
    )
    sort: Sort = "-created_at"
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The SQL form of ``can_see_case``."""
    match actor.role:
        case Role.ADMIN | Role.SYSTEM:
            return true()
        case Role.COMMAND_CENTRE | Role.GRID | Role.ASSESSOR:
            if not actor.scope_path:
                return false()
            return Case.area_path.startswith(actor.scope_path, autoescape=True)
        case Role.DEPARTMENT:
            return _has_assignment_of(actor.scope_id)
        case Role.UNIT:
            return or_(
                _has_assignment_of(actor.scope_id),
                (Case.workflow == DEMAND_WORKFLOW) & Case.community_id.in_(actor.communities),
            )
        case Role.RESIDENT:
            if actor.account_id is None:
                return false()
            return Case.reporter_account_id == actor.account_id
        case _:
            raise AssertionError(f"no visibility rule for role {actor.role}")


def _has_assignment_of(org_id: int | None, *, active_only: bool = False) -> ColumnElement[bool]:
    if org_id is None:
        return false()
    where = [Assignment.case_id == Case.id, Assignment.org_id == org_id]
    if active_only:
        where.append(Assignment.state != AssignmentState.WITHDRAWN)
    return exists(select(Assignment.id).where(*where))


def like_pattern(term: str) -> str:
    """A LIKE pattern finding ``term`` anywhere, its wildcards taken literally (escape ``\\``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _category_and_below(session: Session, category_id: int) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for cid, parent in session.execute(select(Category.id, Category.parent_id)):
        children.setdefault(parent, []).append(cid)
    found, todo = [], [category_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.append(current)
            todo.extend(children.get(current, []))
    return found


def _flag_filters(query: CaseQuery, now: datetime) -> list[ColumnElement[bool]]:
    """The yes/no filters: a running clock past due; a callback still to make."""
    where: list[ColumnElement[bool]] = []
    if query.overdue is not None:
        late = exists(
            select(Deadline.id).where(
                Deadline.case_id == Case.id,
                Deadline.state == DeadlineState.OPEN,
                Deadline.due_at < now,
            )
        )
        where.append(late if query.overdue else ~late)
    if query.callback_due is not None:
        due = and_(
            Case.state == CaseState.RESOLVED,
            or_(Case.callback_outcome.is_(None), Case.callback_outcome != CallbackOutcome.REACHED),
        )
        where.append(due if query.callback_due else ~due)
    return where


def _filters(session: Session, query: CaseQuery, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.state:
        where.append(Case.state.in_(query.state))
    if query.street_id is not None:
        where.append(Case.street_id == query.street_id)
    if query.community_id is not None:
        where.append(Case.community_id == query.community_id)
    if query.category_id is not None:
        where.append(Case.category_id.in_(_category_and_below(session, query.category_id)))
    if query.department_id is not None:
        where.append(_has_assignment_of(query.department_id, active_only=True))
    if query.priority is not None:
        where.append(Case.priority == query.priority)
    if query.source is not None:
        where.append(Case.source == query.source)
    where += _flag_filters(query, now)
    if query.created_from is not None:
        where.append(Case.created_at >= query.created_from)
    if query.created_to is not None:
        where.append(Case.created_at < query.created_to)
    if query.q:
        pattern = like_pattern(query.q)
        where.append(
            or_(
                Case.title.ilike(pattern, escape="\\"),
                Case.description.ilike(pattern, escape="\\"),
            )
        )
    return where


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


def _order_by(sort: Sort) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    column: ColumnElement[Any] = (
        sql_case(_PRIORITY_RANK, value=Case.priority, else_=len(_PRIORITY_RANK))
        if name == "priority"
        else getattr(Case, name)
    )
    if descending:
        return column.desc(), Case.id.desc()
    return column.asc(), Case.id.asc()


def list_cases(session: Session, *, actor: Actor, query: CaseQuery, now: datetime) -> Page[Case]:
    """One page of the cases the actor may see that match the query, with the total count."""
    where = [visible_to(actor), *_filters(session, query, now)]
    total = session.scalar(select(func.count()).select_from(Case).where(and_(*where))) or 0
    stmt = select(Case).where(and_(*where)).order_by(*_order_by(query.sort))
    stmt = stmt.offset((query.page - 1) * query.limit).limit(query.limit)
    return Page(list(session.scalars(stmt)), total, query.page, query.limit)


def case_titles(session: Session, *, actor: Actor, case_ids: Sequence[int]) -> dict[int, str]:
    """The titles of those of ``case_ids`` the actor may see (one query)."""
    if not case_ids:
        return {}
    stmt = select(Case.id, Case.title).where(Case.id.in_(case_ids), visible_to(actor))
    return {int(case_id): str(title) for case_id, title in session.execute(stmt)}


@dataclass(frozen=True)
class CallbackFacts:
    """A case's callbacks in brief: how many, how the last went, why it closed unrated."""

    attempts: int
    outcome: str | None
    close_reason: str | None


def callback_facts(
    session: Session, *, actor: Actor, case_ids: Sequence[int]
) -> dict[int, CallbackFacts]:
    """The callback facts of those of ``case_ids`` the actor may see (one query)."""
    if not case_ids:
        return {}
    stmt = select(Case.id, Case.callback_attempts, Case.callback_outcome, Case.close_reason).where(
        Case.id.in_(case_ids), visible_to(actor)
    )
    return {
        int(case_id): CallbackFacts(int(attempts or 0), outcome, reason)
        for case_id, attempts, outcome, reason in session.execute(stmt)
    }


class OrgName(Protocol):
    """What a detail shows of an org node (a stored one, or the snapshot's)."""

    @property
    def id(self) -> int: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...


@dataclass(frozen=True)
class AssignmentDetail:
    assignment: Assignment
    org: OrgName
    allowed_triggers: list[str]


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    reporter_name: str | None
    reporter_phone: str | None
    assignments: list[AssignmentDetail]
    deadlines: list[Deadline]
    allowed_triggers: list[str]
    orgs: Mapping[int, OrgName] = field(default_factory=dict)
    # The case's free text reaches this reader redacted of personal data (an assessor).
    text_redacted: bool = False


def _assignments(session: Session, case_id: int) -> list[Assignment]:
    stmt = select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
    return list(session.scalars(stmt))


def visible_case(session: Session, *, actor: Actor, case_id: int) -> Case:
    """The case, or ``NotFound`` when it does not exist or the actor may not see it."""
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    if not can_see_case(actor, case, _assignments(session, case_id)):
        raise OutOfScope(f"case {case_id} not found")
    return case


def own_assignments(actor: Actor, assignments: Sequence[Assignment]) -> list[Assignment]:
    """The assignments the actor may see: a department or unit sees only its own."""
    if actor.role in (Role.DEPARTMENT, Role.UNIT):
        return [a for a in assignments if a.org_id == actor.scope_id]
    return list(assignments)


def case_detail(
    session: Session, *, rt: Runtime, actor: Actor, case_id: int, now: datetime
) -> CaseDetail:
    """A case with its (visible) assignments, clocks and the triggers open to the actor.

    One load of the case (as the services load it) answers all of it.
    """
    unit = CaseUnit.load(session, rt, now, case_id=case_id)
    if not can_see_case(actor, unit.case, unit.assignments):
        raise OutOfScope(f"case {case_id} not found")
    return detail_of(unit, actor)


def detail_of(unit: CaseUnit, actor: Actor) -> CaseDetail:
    """The detail of a loaded (or just written) case as the actor may see it; reads nothing."""
    mine = own_assignments(actor, unit.assignments)
    orgs = {a.org_id: unit.org.nodes[a.org_id] for a in mine if a.org_id in unit.org.nodes}
    shown = {a.id for a in mine}
    deadlines = sorted(
        (d for d in unit.deadlines if d.assignment_id is None or d.assignment_id in shown),
        key=lambda d: d.id,
    )
    name, phone = reporter_view(actor, unit.case, unit.assignments)
    details = [
        AssignmentDetail(a, orgs[a.org_id], allowed_on_assignment(unit, actor, a)) for a in mine
    ]
    allowed = allowed_on_case(unit, actor)
    return CaseDetail(
        unit.case, name, phone, details, deadlines, allowed, orgs, reads_text_redacted(actor)
    )


def orgs_by_id(session: Session, ids: set[int]) -> dict[int, OrgNode]:
    """Org nodes by id (one query)."""
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(OrgNode).where(OrgNode.id.in_(ids)))}


def case_events(session: Session, *, actor: Actor, case_id: int) -> list[Event]:
    """The case's timeline, oldest first; a department does not see other departments' moves."""
    visible_case(session, actor=actor, case_id=case_id)
    events = list(
        session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq))
    )
    if actor.role == Role.RESIDENT:
        return [_as_resident_sees(e, actor) for e in events if _public_move(e)]
    if actor.role not in (Role.DEPARTMENT, Role.UNIT):
        return events
    foreign = {a.id for a in _assignments(session, case_id) if a.org_id != actor.scope_id}
    return [e for e in events if e.assignment_id not in foreign]


def _public_move(event: Event) -> bool:
    """A move of the case itself that changed its state: what a reporting resident follows."""
    return event.subject == Subject.CASE and event.from_state != event.to_state


def _as_resident_sees(event: Event, actor: Actor) -> Event:
    """The event without the staff's internals: no payload (reasons, notes, ids), no staff
    account; the resident's own moves keep their payload. A detached copy: nothing is written."""
    own = actor.account_id is not None and event.actor_id == actor.account_id
    return Event(
        id=event.id, case_id=event.case_id, seq=event.seq, at=event.at,
        actor_id=event.actor_id if own else None, actor_role=event.actor_role,
        trigger=event.trigger, subject=event.subject, assignment_id=None,
        from_state=event.from_state, to_state=event.to_state,
        payload=dict(event.payload) if own else {}, prev_hash="", hash="",
    )  # fmt: skip


@dataclass(frozen=True)
class CallbackAttempt:
    """One callback (回访) as recorded: its number in its round, the call, and who recorded it."""

    attempt: int
    called_at: datetime
    outcome: CallbackOutcome
    note: str | None
    recorded_at: datetime
    operator_id: int | None
    operator_role: str


def callback_attempts(session: Session, *, actor: Actor, case_id: int) -> list[CallbackAttempt]:
    """The case's callback attempts, oldest first: the staff's record, never the resident's
    (an assessor reads the operator's notes redacted of personal data)."""
    visible_case(session, actor=actor, case_id=case_id)  # 404 before anything else is said
    if actor.role == Role.RESIDENT:
        raise Forbidden(f"the callbacks of case {case_id} are the command centre's record")
    events = session.scalars(
        select(Event)
        .where(Event.case_id == case_id, Event.trigger == Trigger.CALLBACK)
        .order_by(Event.seq)
    )
    return [
        CallbackAttempt(
            attempt=int(e.payload["attempt"]),
            called_at=datetime.fromisoformat(e.payload["called_at"]),
            outcome=CallbackOutcome(e.payload["outcome"]),
            note=case_text(actor, e.payload.get("note")),  # an assessor's redacted
            recorded_at=e.at,
            operator_id=e.actor_id,
            operator_role=str(e.actor_role),
        )
        for e in events
    ]


def cases_by_state(session: Session) -> dict[str, int]:
    """How many cases are in each state (every state listed, zeros included)."""
    counts = {str(s): 0 for s in CaseState}
    for state, n in session.execute(select(Case.state, func.count()).group_by(Case.state)):
        counts[str(state)] = int(n)
    return counts


def overdue_by_clock(session: Session, *, now: datetime) -> dict[str, int]:
    """How many running clocks are past due, per clock name."""
    stmt = (
        select(Deadline.clock, func.count())
        .where(Deadline.state == DeadlineState.OPEN, Deadline.due_at < now)
        .group_by(Deadline.clock)
    )
    return {str(clock): int(n) for clock, n in session.execute(stmt)}
