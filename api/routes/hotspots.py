"""Hotspots: the hottest clusters of cases in a window, and their promotion to a governance item."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, ValidationError

from api.deps import ActorDep, ClockDep, RuntimeDep, SessionDep, SettingsDep
from api.problems import documented
from engine.errors import InvalidInput
from engine.insight.hotspots import Cluster
from engine.insight.service import Promotion, day_window, hotspots, promote, summary_of

router = APIRouter(prefix="/api/v1/hotspots", tags=["smart intake"])


class MemberOut(BaseModel):
    id: int
    source_ref: str | None


class HotspotOut(BaseModel):
    rank: int
    heat: float
    place: str
    summary: str
    first: datetime
    last: datetime
    reporters: int
    reactions: int
    previous: int
    growth: float
    trend: dict[str, int]
    cases: list[MemberOut]

    @classmethod
    def of(cls, rank: int, c: Cluster) -> HotspotOut:
        return cls(
            rank=rank, heat=c.heat, place=c.place, summary=summary_of(c), first=c.first,
            last=c.last, reporters=c.reporters, reactions=c.reactions, previous=c.previous,
            growth=round(c.growth, 3), trend=c.daily,
            cases=[MemberOut(id=m.id, source_ref=m.source_ref) for m in c.members],
        )  # fmt: skip


class HotspotsOut(BaseModel):
    date_from: date
    date_to: date
    hotspots: list[HotspotOut]


@router.get("", responses=documented(401, 403, 422), summary="The hottest clusters of cases")
def list_hotspots(
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    date_from: Annotated[date, Query(alias="from")],
    date_to: Annotated[date, Query(alias="to")],
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> HotspotsOut:
    """Clusters of the cases taken in from ``from`` to ``to`` (days, both included), by heat."""
    zone = ZoneInfo(settings.timezone)
    start, end = day_window(date_from, date_to, zone)
    found = hotspots(session=session, actor=actor, start=start, end=end, top=top)
    return HotspotsOut(
        date_from=date_from, date_to=date_to,
        hotspots=[HotspotOut.of(i, c) for i, c in enumerate(found, start=1)],
    )  # fmt: skip


class PromotedOut(BaseModel):
    id: int
    workflow: str
    linked: list[int]


@router.post(
    "/promote",
    status_code=status.HTTP_201_CREATED,
    responses=documented(401, 403, 404, 413, 422),
    summary="Promote a hotspot to a governance item (每月一题)",
)
def promote_hotspot(
    session: SessionDep,
    rt: RuntimeDep,
    actor: ActorDep,
    clock: ClockDep,
    body: dict[str, Any] = Body(),  # noqa: B008 - FastAPI's idiom
) -> PromotedOut:
    """Raise a street or community whistle linked to the hotspot's member cases."""
    try:
        promotion = Promotion.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"promotion: {problems}") from None
    item = promote(session=session, rt=rt, actor=actor, promotion=promotion, now=clock.now())
    return PromotedOut(id=item.id, workflow=item.workflow, linked=sorted(set(promotion.case_ids)))
