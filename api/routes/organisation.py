"""The organisation tree and the categories (read; admin writes are not part of the API yet)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ActorDep, SessionDep
from api.problems import documented
from api.schemas import CategoryOut, OrgNodeOut
from engine.organisation.queries import all_categories, org_tree

router = APIRouter(prefix="/api/v1", tags=["organisation"])


@router.get("/organisation", responses=documented(401), summary="The organisation tree")
def organisation(session: SessionDep, actor: ActorDep) -> list[OrgNodeOut]:
    """Every active org node, parents before children (areas, departments, units)."""
    return [OrgNodeOut.model_validate(n) for n in org_tree(session)]


@router.get("/categories", responses=documented(401), summary="The case categories")
def categories(session: SessionDep, actor: ActorDep) -> list[CategoryOut]:
    """Every active category, parents before children, with its Open311 attributes."""
    return [CategoryOut.model_validate(c) for c in all_categories(session)]
