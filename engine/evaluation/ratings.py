"""The communities' annual rating of the co-building units registered with them (DESIGN §4).

A grid or community account rates, for its own community, a unit registered there: a score
0–100 and a comment, once per year (rating again replaces the score). It is 40 % of the unit's
composite by default.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import Forbidden, InvalidInput, OutOfScope
from engine.evaluation.models import UnitRating
from engine.organisation.models import OrgNode, UnitRegistration
from engine.runtime import Runtime
from engine.text import StoredModel
from engine.uow import use_case
from engine.vocabulary import OrgKind, Role


class UnitRatingInput(StoredModel):
    """What a community enters for a unit."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    unit_id: int
    year: int = Field(ge=2000, le=9999)
    score: float = Field(ge=0, le=100)
    comment: str = Field(default="", max_length=2000)


def parse_rating(data: dict[str, object]) -> UnitRatingInput:
    """Validate a rating, naming each wrong field."""
    try:
        return UnitRatingInput.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"unit rating: {problems}") from None


def community_of(actor: Actor) -> int:
    """The community a grid or community account speaks for."""
    if actor.role != Role.GRID or actor.scope_id is None:
        raise Forbidden(f"role '{actor.role}' may not rate co-building units; a community may")
    if actor.scope_kind == OrgKind.COMMUNITY:
        return actor.scope_id
    # A grid account: its community is the grid's parent, the last-but-one node of its path.
    return int(actor.scope_path.strip("/").split("/")[-2])


@use_case
def rate_unit(
    *, session: Session, rt: Runtime, actor: Actor, rating: UnitRatingInput, now: datetime
) -> UnitRating:
    """Record (or replace) the actor's community's rating of a unit for a year."""
    community_id = community_of(actor)
    unit = session.get(OrgNode, rating.unit_id)
    if unit is None or unit.kind != OrgKind.UNIT:
        raise OutOfScope(f"unit {rating.unit_id} not found")
    registered = session.scalar(
        select(UnitRegistration.id).where(
            UnitRegistration.unit_id == unit.id, UnitRegistration.community_id == community_id
        )
    )
    if registered is None:
        raise InvalidInput(
            f"unit rating: unit_id: {unit.id} ({unit.name_zh}) is not registered with "
            f"community {community_id}"
        )
    this_year = now.astimezone(rt.calendar.zone).year
    if rating.year > this_year:
        raise InvalidInput(f"unit rating: year: {rating.year} has not begun (it is {this_year})")
    row = session.scalar(
        select(UnitRating).where(
            UnitRating.unit_id == unit.id,
            UnitRating.community_id == community_id,
            UnitRating.year == rating.year,
        )
    )
    if row is None:
        row = UnitRating(unit_id=unit.id, community_id=community_id, year=rating.year)
        session.add(row)
    row.score, row.comment = rating.score, rating.comment
    row.rated_by_id, row.rated_at = actor.account_id, now
    return row
