"""A department's task inbox: its own assignments, soonest due first, with their running clocks.

Only a department or a co-building unit has an inbox, and it holds only that org's assignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access import Actor, can_see_case
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.queries import (
    MAX_LIMIT,
    AssignmentDetail,
    Page,
    orgs_by_id,
)
from engine.case.service import allowed_assignment_triggers, allowed_on_assignment
from engine.case.unit import CaseUnit
from engine.deadline.models import Deadline
from engine.errors import Forbidden, OutOfScope
from engine.runtime import Runtime
from engine.vocabulary import AssignmentState, DeadlineState, Role

OPEN_STATES = (
    AssignmentState.ASSIGNED,
    AssignmentState.ACCEPTED,
    AssignmentState.ON_SITE,
    AssignmentState.OBJECTED,
)


class TaskQuery(BaseModel):
    """Which tasks: by state (default: the ones still open), one page at a time."""

    model_config = ConfigDict(extra="forbid")

    state: list[AssignmentState] = Field(default_factory=list, description="default: open ones")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


@dataclass(frozen=True)
class Task:
    assignment: AssignmentDetail
    case: Case
    # The running clocks of the assignment and of its case, soonest first.
    deadlines: list[Deadline]


def task_inbox(
    session: Session, *, rt: Runtime, actor: Actor, query: TaskQuery, now: datetime
) -> Page[Task]:
    """The actor's department's assignments, soonest running deadline first."""
    if actor.role not in (Role.DEPARTMENT, Role.UNIT) or actor.scope_id is None:
        raise Forbidden(f"role '{actor.role}' has no task inbox; departments and units do")
    states = query.state or list(OPEN_STATES)
    where = [Assignment.org_id == actor.scope_id, Assignment.state.in_(states)]
    total = session.scalar(select(func.count()).select_from(Assignment).where(*where)) or 0
    soonest = (
        select(func.min(Deadline.due_at))
        .where(Deadline.assignment_id == Assignment.id, Deadline.state == DeadlineState.OPEN)
        .correlate(Assignment)
        .scalar_subquery()
    )
    stmt = (
        select(Assignment, Case)
        .join(Case, Case.id == Assignment.case_id)
        .where(*where)
        .order_by(soonest.is_(None), soonest, Assignment.id)
        .offset((query.page - 1) * query.limit)
        .limit(query.limit)
    )
    rows = session.execute(stmt).all()
    clocks = _running_clocks(session, [c.id for _, c in rows])
    orgs = orgs_by_id(session, {actor.scope_id})
    items = [
        Task(
            assignment=AssignmentDetail(
                a,
                orgs[a.org_id],
                allowed_assignment_triggers(
                    session=session, rt=rt, actor=actor, assignment_id=a.id, now=now
                ),
            ),
            case=c,
            deadlines=[d for d in clocks.get(c.id, []) if d.assignment_id in (None, a.id)],
        )
        for a, c in rows
    ]
    return Page(items, total, query.page, query.limit)


def _running_clocks(session: Session, case_ids: list[int]) -> dict[int, list[Deadline]]:
    if not case_ids:
        return {}
    stmt = (
        select(Deadline)
        .where(Deadline.case_id.in_(case_ids), Deadline.state == DeadlineState.OPEN)
        .order_by(Deadline.due_at)
    )
    out: dict[int, list[Deadline]] = {}
    for d in session.scalars(stmt):
        out.setdefault(d.case_id, []).append(d)
    return out


def assignment_detail(
    session: Session, *, rt: Runtime, actor: Actor, assignment_id: int, now: datetime
) -> tuple[AssignmentDetail, Case]:
    """One assignment the actor may see, with the triggers open to it, and its case."""
    unit = CaseUnit.load(session, rt, now, assignment_id=assignment_id)
    return assignment_detail_of(unit, actor, assignment_id)


def assignment_detail_of(
    unit: CaseUnit, actor: Actor, assignment_id: int
) -> tuple[AssignmentDetail, Case]:
    """The same from a loaded (or just written) unit; reads nothing."""
    assignment = unit.assignment(assignment_id)
    foreign = actor.role in (Role.DEPARTMENT, Role.UNIT) and assignment.org_id != actor.scope_id
    if foreign or not can_see_case(actor, unit.case, unit.assignments):
        raise OutOfScope(f"assignment {assignment_id} not found")
    org = unit.org.nodes[assignment.org_id]
    return AssignmentDetail(
        assignment, org, allowed_on_assignment(unit, actor, assignment)
    ), unit.case
