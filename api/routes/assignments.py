"""Assignments: fire a trigger on one department's share of a case (accept, report in, …)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ActorDep, ClockDep, IdPath, IfMatchDep, RuntimeDep, SessionDep, etag
from api.problems import documented
from api.routes.cases import expected_version
from api.schemas import AssignmentMoveOut, AssignmentOut, AssignmentTransitionIn, CaseSummary
from engine.case.service import move_assignment
from engine.case.tasks import assignment_detail_of

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])


@router.post(
    "/{assignment_id}/transitions",
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    summary="Fire an assignment trigger",
)
def transition(
    assignment_id: IdPath,
    body: AssignmentTransitionIn,
    response: Response,
    session: SessionDep,
    rt: RuntimeDep,
    clock: ClockDep,
    actor: ActorDep,
    if_match: IfMatchDep,
) -> AssignmentMoveOut:
    """Fire ``trigger`` on the assignment; a department acts only on its own assignments."""
    unit = move_assignment(
        session=session, rt=rt, actor=actor, assignment_id=assignment_id, trigger=body.trigger,
        payload=body.payload, version=expected_version(body.version, if_match), now=clock.now(),
    )  # fmt: skip
    detail, case = assignment_detail_of(unit, actor, assignment_id)
    response.headers["ETag"] = etag(detail.assignment.version)
    return AssignmentMoveOut(
        assignment=AssignmentOut.of(detail), case=CaseSummary.model_validate(case)
    )
