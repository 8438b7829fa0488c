"""The notifications inbox of a department, unit or command centre: read it, mark items read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ActorDep, ClockDep, IdPath, SessionDep
from api.problems import documented
from api.schemas import Out
from engine.case.queries import MAX_ID
from engine.notification.service import MAX_PAGE, inbox, mark_read, unread_count
from engine.vocabulary import Trigger

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


class NotificationOut(Out):
    id: int
    org_id: int
    case_id: int
    kind: Trigger
    title_zh: str
    title_en: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    read_by: int | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread: int


@router.get("", responses=documented(401, 403, 422), summary="The caller's notifications")
def list_(
    session: SessionDep,
    actor: ActorDep,
    unread_only: bool = False,
    limit: int = Query(default=50, ge=1, le=MAX_PAGE),
    before_id: int | None = Query(
        default=None, ge=1, le=MAX_ID, description="page on: the last id seen"
    ),
) -> NotificationPage:
    """Newest first, with how many are unread."""
    items = inbox(
        session=session, actor=actor, unread_only=unread_only, limit=limit, before_id=before_id
    )
    return NotificationPage(
        items=[NotificationOut.model_validate(n) for n in items],
        unread=unread_count(session=session, actor=actor),
    )


@router.post(
    "/{notification_id}/read", responses=documented(401, 403, 404), summary="Mark one read"
)
def read(
    notification_id: IdPath, session: SessionDep, clock: ClockDep, actor: ActorDep
) -> NotificationOut:
    """Mark a notification of the caller's own inbox read (the first reader is kept)."""
    done = mark_read(session=session, actor=actor, notification_id=notification_id, now=clock.now())
    return NotificationOut.model_validate(done)
