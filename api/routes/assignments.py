"""Assignments: fire a trigger on one department's share of a case (accept, report in, …)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response

from api.deps import IdPath, IfMatchHeader, etag
from api.onehop import Caller, OneHopRoute, TokenDep, in_one_hop
from api.problems import documented
from api.routes.cases import expected_version
from api.schemas import AssignmentMoveOut, AssignmentOut, AssignmentTransitionIn, CaseSummary
from engine.case.service import move_assignment
from engine.case.tasks import assignment_detail_of

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])


async def transition(
    assignment_id: IdPath,
    body: AssignmentTransitionIn,
    request: Request,
    response: Response,
    token: TokenDep,
    if_match: IfMatchHeader = None,
) -> AssignmentMoveOut:
    """Fire ``trigger`` on the assignment; a department acts only on its own assignments."""
    # The token lookup, the move and the answer in one hop to the thread pool.
    out = await in_one_hop(request, token, partial(_move, assignment_id, body, if_match))
    response.headers["ETag"] = etag(out.assignment.version)
    return out


def _move(
    assignment_id: int, body: AssignmentTransitionIn, if_match: str | None, caller: Caller
) -> AssignmentMoveOut:
    actor = caller.actor
    version = expected_version(body.version, if_match)
    unit = move_assignment(
        session=caller.session, rt=caller.rt, actor=actor, assignment_id=assignment_id,
        trigger=body.trigger, payload=body.payload, version=version, now=caller.clock.now(),
    )  # fmt: skip
    detail, case = assignment_detail_of(unit, actor, assignment_id)
    return AssignmentMoveOut(
        assignment=AssignmentOut.of(detail), case=CaseSummary.model_validate(case)
    )


router.add_api_route(
    "/{assignment_id}/transitions",
    responses=documented(400, 401, 403, 404, 409, 413, 422),
    summary="Fire an assignment trigger",
    route_class_override=OneHopRoute,
    endpoint=transition,
    methods=["POST"],
)
