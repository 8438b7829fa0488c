"""Queries behind the command centre's boards and the case page, scoped like ``list_cases``.

Counts of cases by state, the soonest running clock of each listed case, the overdue board
(running clocks past due, most late first, with the ladder step each has reached), and the lookups
a case page needs: pending requests, dispatch candidates, areas to raise in, account names.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case, CaseRequest
from engine.case.queries import visible_to
from engine.deadline.models import Deadline, EscalationStep
from engine.errors import Forbidden
from engine.organisation.models import Account, OrgNode
from engine.vocabulary import AREA_KINDS, CaseState, DeadlineState, OrgKind, RequestStatus, Role

BOARD_LIMIT = 200  # rows per table of the overdue board; the totals say how many there are


def state_counts(session: Session, *, actor: Actor) -> dict[str, int]:
    """How many cases the actor may see are in each state (every state listed, zeros too)."""
    counts = {str(s): 0 for s in CaseState}
    stmt = select(Case.state, func.count()).where(visible_to(actor)).group_by(Case.state)
    for state, n in session.execute(stmt):
        counts[str(state)] = int(n)
    return counts


def _own_clocks(actor: Actor) -> ColumnElement[bool]:
    # A department or unit sees the case's clocks and its own assignment's, never another's.
    if actor.role not in (Role.DEPARTMENT, Role.UNIT):
        return true()
    own = select(Assignment.id).where(Assignment.org_id == actor.scope_id)
    return or_(Deadline.assignment_id.is_(None), Deadline.assignment_id.in_(own))


def soonest_due(
    session: Session, *, actor: Actor, case_ids: Collection[int]
) -> dict[int, datetime]:
    """The due time of each case's soonest running clock the actor may see (cases with one)."""
    if not case_ids:
        return {}
    stmt = (
        select(Deadline.case_id, func.min(Deadline.due_at))
        .where(
            Deadline.case_id.in_(list(case_ids)),
            Deadline.state == DeadlineState.OPEN,
            _own_clocks(actor),
        )
        .group_by(Deadline.case_id)
    )
    return {int(case_id): due for case_id, due in session.execute(stmt) if due is not None}


def last_steps(session: Session, *, deadline_ids: Collection[int]) -> dict[int, str]:
    """The last applied ladder step of each deadline that has reached one."""
    if not deadline_ids:
        return {}
    stmt = (
        select(EscalationStep.deadline_id, EscalationStep.step)
        .where(EscalationStep.deadline_id.in_(list(deadline_ids)))
        .order_by(EscalationStep.deadline_id, EscalationStep.step_index)
    )
    # Ordered by step index, so the last one written per deadline is the furthest reached.
    return {int(deadline_id): str(step) for deadline_id, step in session.execute(stmt)}


@dataclass(frozen=True)
class ClockRow:
    """A running clock on the board: its case, its department (assignment clocks), its step."""

    deadline: Deadline
    case: Case
    org: OrgNode | None
    last_step: str | None


@dataclass(frozen=True)
class ClockBoard:
    """Running clocks past due (most late first) and those due within the window (soonest first)."""

    late: list[ClockRow]
    late_total: int
    soon: list[ClockRow]
    soon_total: int


def _clock_rows(
    session: Session, actor: Actor, where: list[ColumnElement[bool]], limit: int
) -> tuple[list[ClockRow], int]:
    scoped = [
        Deadline.state == DeadlineState.OPEN,
        visible_to(actor),
        _own_clocks(actor),
        *where,
    ]
    counted = select(func.count(Deadline.id)).join(Case, Case.id == Deadline.case_id)
    total = session.scalar(counted.where(and_(*scoped))) or 0
    joined = select(Deadline, Case).join(Case, Case.id == Deadline.case_id).where(and_(*scoped))
    rows = session.execute(joined.order_by(Deadline.due_at, Deadline.id).limit(limit)).all()
    assignment_ids = {d.assignment_id for d, _ in rows if d.assignment_id is not None}
    org_of: dict[int, OrgNode] = {}
    if assignment_ids:
        found = session.execute(
            select(Assignment.id, OrgNode)
            .join(OrgNode, OrgNode.id == Assignment.org_id)
            .where(Assignment.id.in_(assignment_ids))
        )
        org_of = {int(aid): org for aid, org in found}
    steps = last_steps(session, deadline_ids=[d.id for d, _ in rows])
    items = [
        ClockRow(
            deadline=d,
            case=c,
            org=org_of.get(d.assignment_id) if d.assignment_id is not None else None,
            last_step=steps.get(d.id),
        )
        for d, c in rows
    ]
    return items, int(total)


BOARD_ROLES = (Role.ADMIN, Role.COMMAND_CENTRE)


def overdue_board(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    soon_within: timedelta = timedelta(hours=24),
    limit: int = BOARD_LIMIT,
) -> ClockBoard:
    """The running clocks the actor may see: past due, and due within ``soon_within``.

    The board is the command centres' (and admins'); other roles get ``Forbidden``.
    """
    if actor.role not in BOARD_ROLES:
        raise Forbidden(f"the overdue board is for command centres, not role '{actor.role}'")
    late, late_total = _clock_rows(session, actor, [Deadline.due_at < now], limit)
    soon, soon_total = _clock_rows(
        session, actor, [Deadline.due_at >= now, Deadline.due_at < now + soon_within], limit
    )
    return ClockBoard(late, late_total, soon, soon_total)


def pending_requests(session: Session, *, case_id: int) -> list[CaseRequest]:
    """The case's extension, hard-case and appeal requests still waiting for a decision."""
    stmt = (
        select(CaseRequest)
        .where(CaseRequest.case_id == case_id, CaseRequest.status == RequestStatus.PENDING)
        .order_by(CaseRequest.id)
    )
    return list(session.scalars(stmt))


def merged_here(session: Session, *, actor: Actor, case_id: int) -> list[tuple[int, str]]:
    """The duplicates merged into this case that the actor may see (id, title), oldest first:
    a merge links both ways, the duplicate naming its case and the case its duplicates."""
    stmt = (
        select(Case.id, Case.title)
        .where(Case.merged_into_id == case_id, visible_to(actor))
        .order_by(Case.id)
    )
    return [(int(i), str(title)) for i, title in session.execute(stmt)]


def dispatch_candidates(session: Session, *, case: Case, units: bool = False) -> list[OrgNode]:
    """Active departments that may take the case: the district's and its own street's.

    A department serves the area its parent covers; co-building units only when ``units``.
    """
    ancestors = [int(part) for part in case.area_path.strip("/").split("/") if part]
    kinds = [OrgKind.DEPARTMENT, *([OrgKind.UNIT] if units else [])]
    stmt = (
        select(OrgNode)
        .where(
            OrgNode.kind.in_(kinds),
            OrgNode.active.is_(True),
            OrgNode.parent_id.in_(ancestors),
        )
        .order_by(OrgNode.path)
    )
    return list(session.scalars(stmt))


def areas_in_scope(session: Session, *, actor: Actor) -> list[OrgNode]:
    """Active areas (district to grid) the actor may raise cases in, parents first."""
    stmt = select(OrgNode).where(OrgNode.kind.in_(AREA_KINDS), OrgNode.active.is_(True))
    if actor.role not in (Role.ADMIN, Role.SYSTEM, Role.RESIDENT):
        if not actor.scope_path:
            return []
        stmt = stmt.where(OrgNode.path.startswith(actor.scope_path, autoescape=True))
    return list(session.scalars(stmt.order_by(OrgNode.path)))


def account_names(session: Session, *, ids: Collection[int]) -> dict[int, str]:
    """Display names of accounts (staff are named on a timeline; residents never are)."""
    if not ids:
        return {}
    stmt = select(Account.id, Account.display_name, Account.username, Account.role).where(
        Account.id.in_(list(ids)), Account.role != Role.RESIDENT
    )
    return {int(i): display or username for i, display, username, _ in session.execute(stmt)}
