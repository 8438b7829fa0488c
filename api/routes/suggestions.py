"""Smart intake's suggestions while a case is typed in, and the category models' versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from api.deps import ActorDep, ClockDep, SessionDep, SettingsDep
from api.problems import documented
from engine.insight import queries
from engine.insight.lexicon import lexicon_for
from engine.insight.scorer import Suggestion
from engine.insight.service import parse_request, suggest_one

router = APIRouter(prefix="/api/v1", tags=["smart intake"])


class CategoryOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str
    score: float


class DepartmentOut(BaseModel):
    id: int
    name: str
    name_en: str
    role: str
    score: float
    reason: str
    reason_en: str


class DuplicateOut(BaseModel):
    id: int
    score: float
    reason: str
    reason_en: str


class SuggestionOut(BaseModel):
    categories: list[CategoryOut]
    departments: list[DepartmentOut]
    priority: str | None
    urgency_words: list[str]
    duplicates: list[DuplicateOut]
    confident: bool
    model_version: int | None

    @classmethod
    def of(cls, s: Suggestion) -> SuggestionOut:
        return cls(
            categories=[
                CategoryOut(
                    id=c.category.id,
                    code=c.category.code,
                    name=c.category.name_zh,
                    name_en=c.category.name_en,
                    score=c.score,
                )
                for c in s.categories
            ],
            departments=[
                DepartmentOut(
                    id=d.org.id,
                    name=d.org.name_zh,
                    name_en=d.org.name_en,
                    role=str(d.role),
                    score=d.score,
                    reason=d.reason,
                    reason_en=d.reason_en,
                )
                for d in s.departments
            ],
            priority=str(s.priority) if s.priority else None,
            urgency_words=list(s.urgency.words) if s.urgency else [],
            duplicates=[
                DuplicateOut(id=d.case_id, score=d.score, reason=d.reason, reason_en=d.reason_en)
                for d in s.duplicates
            ],
            confident=s.confident,
            model_version=s.model_version,
        )


_EXAMPLE = {"title": "小区门口燃气泄漏", "description": "闻到很重的煤气味", "area_id": 3}


@router.post(
    "/suggestions",
    responses=documented(401, 403, 404, 413, 422),
    summary="Suggestions for a case being taken in",
)
def suggestions(
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: dict[str, Any] = Body(examples=[_EXAMPLE]),  # noqa: B008 - FastAPI's idiom
) -> SuggestionOut:
    """Top-3 categories with calibrated scores, top-3 departments with their reasons, the
    priority the urgency lexicon proposes and the words that did, and possible duplicates.

    Body: ``title``, ``description``, ``area_id``, ``latitude``/``longitude``, ``phone``."""
    request = parse_request(body)
    found = suggest_one(
        session=session, actor=actor, request=request, now=clock.now(),
        lexicon=lexicon_for(settings.urgency_lexicon),
    )  # fmt: skip
    return SuggestionOut.of(found)


class ModelOut(BaseModel):
    version: int
    kind: str
    created_at: str
    samples: int
    unlabelled: int
    seconds: float
    metrics: dict[str, Any]


@router.get("/models", responses=documented(401), summary="The category models' versions")
def models(session: SessionDep, actor: ActorDep) -> list[ModelOut]:
    """Newest first, each with its cross-validated metrics (macro-F1, per class, top-3)."""
    return [
        ModelOut(
            version=m.version,
            kind=m.kind,
            created_at=m.created_at.isoformat(),
            samples=m.samples,
            unlabelled=m.unlabelled,
            seconds=m.seconds,
            metrics=m.metrics,
        )
        for m in queries.model_versions(session)
    ]
