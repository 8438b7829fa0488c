"""The command centre's approvals queue: every decision waiting for it, oldest first.

Dispatch objections (an assignment at ``objected``, with its objection-review clock), and the
extension, hard-case and appeal requests still pending. Scoped like the case board; each item
says its age and, where the workflow gives the review a clock, when that clock falls due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.board import BOARD_ROLES
from engine.case.models import Case, CaseRequest
from engine.case.queries import visible_to
from engine.deadline.models import Deadline
from engine.errors import Forbidden
from engine.organisation.models import OrgNode
from engine.vocabulary import AssignmentState, DeadlineState, RequestStatus

OBJECTION = "objection"
KINDS = (OBJECTION, "extension", "hard_case", "appeal")
REVIEW_CLOCK = "objection_review"


@dataclass(frozen=True)
class Waiting:
    """One decision waiting: what, on which case, from whom, since when, due when."""

    kind: str
    case: Case
    org: OrgNode | None
    since: datetime
    due: datetime | None
    reason: str | None
    detail: dict[str, object]


@dataclass(frozen=True)
class Approvals:
    items: list[Waiting]

    def counts(self) -> dict[str, int]:
        """How many of each kind wait (every kind listed, zeros too)."""
        out = dict.fromkeys(KINDS, 0)
        for item in self.items:
            out[item.kind] += 1
        return out


def approvals(session: Session, *, actor: Actor, kind: str | None = None) -> Approvals:
    """What waits for the actor's decision, oldest first (command centres and admins)."""
    if actor.role not in BOARD_ROLES:
        raise Forbidden(f"the approvals queue is for command centres, not role '{actor.role}'")
    items: list[Waiting] = []
    if kind in (None, OBJECTION):
        items += _objections(session, actor)
    if kind != OBJECTION:
        items += _requests(session, actor, kind)
    items.sort(key=lambda w: (w.since, w.case.id))
    return Approvals(items)


def pending_count(session: Session, *, actor: Actor) -> int:
    """How many decisions wait for the actor (the board's tab)."""
    if actor.role not in BOARD_ROLES:
        return 0
    return len(approvals(session, actor=actor).items)


def _objections(session: Session, actor: Actor) -> list[Waiting]:
    review = and_(
        Deadline.assignment_id == Assignment.id,
        Deadline.clock == REVIEW_CLOCK,
        Deadline.state == DeadlineState.OPEN,
    )
    stmt = (
        select(Assignment, Case, OrgNode, Deadline.started_at, Deadline.due_at)
        .join(Case, Case.id == Assignment.case_id)
        .join(OrgNode, OrgNode.id == Assignment.org_id)
        .outerjoin(Deadline, review)
        .where(Assignment.state == AssignmentState.OBJECTED, visible_to(actor))
    )
    return [
        Waiting(
            kind=OBJECTION,
            case=case,
            org=org,
            since=started or a.created_at,
            due=due,
            reason=a.objection_reason,
            detail={"assignment_id": a.id, "role": str(a.role)},
        )
        for a, case, org, started, due in session.execute(stmt)
    ]


def _requests(session: Session, actor: Actor, kind: str | None) -> list[Waiting]:
    stmt = (
        select(CaseRequest, Case, OrgNode)
        .join(Case, Case.id == CaseRequest.case_id)
        .outerjoin(Assignment, Assignment.id == CaseRequest.assignment_id)
        .outerjoin(OrgNode, OrgNode.id == Assignment.org_id)
        .where(CaseRequest.status == RequestStatus.PENDING, visible_to(actor))
    )
    if kind is not None:
        stmt = stmt.where(CaseRequest.kind == kind)
    return [
        Waiting(
            kind=str(r.kind),
            case=case,
            org=org,
            since=r.requested_at,
            due=None,  # the workflows give these reviews no clock of their own
            reason=(r.payload or {}).get("reason"),
            detail=dict(r.payload or {}),
        )
        for r, case, org in session.execute(stmt)
    ]
