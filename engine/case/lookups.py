"""Batch reads for feeds of many cases (Open311, exports): one query per fact, not per case.

Which cases: ``find_cases`` (scoped like every list). Facts about them: their lead departments,
the due times of a clock, their categories and areas, and the feed of state changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.queries import visible_to
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.organisation.models import Category, OrgNode
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, DeadlineState, Subject

MAX_ROWS = 1000


def find_cases(
    session: Session,
    *,
    actor: Actor,
    ids: Sequence[int] = (),
    category_id: int | None = None,
    states: Collection[CaseState] = (),
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = MAX_ROWS,
) -> list[Case]:
    """The actor's visible cases matching every given condition, newest first."""
    where: list[ColumnElement[bool]] = [visible_to(actor)]
    if ids:
        where.append(Case.id.in_(list(ids)))
    if category_id is not None:
        where.append(Case.category_id == category_id)
    if states:
        where.append(Case.state.in_(list(states)))
    if created_from is not None:
        where.append(Case.created_at >= created_from)
    if created_to is not None:
        where.append(Case.created_at < created_to)
    stmt = (
        select(Case)
        .where(and_(*where))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(min(limit, MAX_ROWS))
    )
    return list(session.scalars(stmt))


def lead_orgs(session: Session, case_ids: Collection[int]) -> dict[int, OrgNode]:
    """Each case's current lead department (cases not dispatched are absent)."""
    if not case_ids:
        return {}
    stmt = (
        select(Assignment.case_id, OrgNode)
        .join(OrgNode, OrgNode.id == Assignment.org_id)
        .where(
            Assignment.case_id.in_(list(case_ids)),
            Assignment.role == AssignmentRole.LEAD,
            Assignment.state != AssignmentState.WITHDRAWN,
        )
    )
    return {case_id: org for case_id, org in session.execute(stmt)}


def due_times(session: Session, case_ids: Collection[int], *, clock: str) -> dict[int, datetime]:
    """When each case's running clock of this name falls due (cases without one are absent)."""
    if not case_ids:
        return {}
    stmt = select(Deadline.case_id, Deadline.due_at).where(
        Deadline.case_id.in_(list(case_ids)),
        Deadline.clock == clock,
        Deadline.assignment_id.is_(None),
        Deadline.state == DeadlineState.OPEN,
    )
    return {case_id: due for case_id, due in session.execute(stmt)}


def categories_by_id(session: Session, ids: Collection[int | None]) -> dict[int, Category]:
    """Categories by id (one query)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(wanted)))}


def state_changes(
    session: Session,
    *,
    actor: Actor,
    case_ids: Sequence[int] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_ROWS,
) -> list[Event]:
    """Events that moved a visible case to a new state (its raising included), newest first."""
    where: list[ColumnElement[bool]] = [
        visible_to(actor),
        Event.subject == Subject.CASE,
        Event.to_state.is_not(None),
        (Event.from_state.is_(None)) | (Event.from_state != Event.to_state),
    ]
    if case_ids:
        where.append(Event.case_id.in_(list(case_ids)))
    if since is not None:
        where.append(Event.at >= since)
    if until is not None:
        where.append(Event.at < until)
    stmt = (
        select(Event)
        .join(Case, Case.id == Event.case_id)
        .where(and_(*where))
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(min(limit, MAX_ROWS))
    )
    return list(session.scalars(stmt))
