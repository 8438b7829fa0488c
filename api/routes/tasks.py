"""A department's task inbox: its own open assignments, soonest due first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, ClockDep, RuntimeDep, SessionDep
from api.problems import documented
from api.schemas import AssignmentOut, CaseSummary, DeadlineOut, TaskOut, TaskPage
from engine.case.tasks import TaskQuery, task_inbox

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get("", responses=documented(401, 403, 422), summary="The department's task inbox")
def inbox(
    query: Annotated[TaskQuery, Query()],
    session: SessionDep,
    rt: RuntimeDep,
    actor: ActorDep,
    clock: ClockDep,
) -> TaskPage:
    """The caller's department's assignments with their running clocks (departments, units)."""
    page = task_inbox(session, rt=rt, actor=actor, query=query, now=clock.now())
    return TaskPage(
        items=[
            TaskOut(
                assignment=AssignmentOut.of(t.assignment),
                case=CaseSummary.model_validate(t.case),
                deadlines=[DeadlineOut.model_validate(d) for d in t.deadlines],
            )
            for t in page.items
        ],
        total=page.total,
        page=page.page,
        limit=page.limit,
    )
