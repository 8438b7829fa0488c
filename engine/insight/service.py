"""Insight use cases: train a model, suggest at intake (one case or a batch), find hotspots,
promote a hotspot to a governance item. Each takes ``now``; the writers commit once."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as day_start_time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access import Actor, check_area_in_scope
from engine.case.models import Case
from engine.case.service import CaseDraft, raise_in_transaction
from engine.errors import Forbidden, InvalidInput, OutOfScope
from engine.insight import classifier, queries
from engine.insight.classifier import Item, Scorer
from engine.insight.duplicates import Duplicate, Probe
from engine.insight.hotspots import Cluster, clusters
from engine.insight.lexicon import Lexicon
from engine.insight.models import CaseLink, InsightModel
from engine.insight.scorer import (
    CategoryScore,
    DispatchCount,
    OrgRef,
    Route,
    Suggestion,
    rank_departments,
    suggest,
)
from engine.organisation.models import OrgNode
from engine.organisation.service import route
from engine.redaction import redact
from engine.runtime import Runtime
from engine.uow import use_case
from engine.vocabulary import AREA_KINDS, Role, Source

# Newest labelled cases a model learns from, and how many of them are cross-validated: recent
# history says most about today's cases, and it keeps training on 100,000 cases within a minute.
MAX_TRAINING = 20_000
MAX_VALIDATION = 3_000
MAX_UNLABELLED = 5_000
MAX_TEXT = 10_000
INTAKE_ROLES = (Role.ADMIN, Role.COMMAND_CENTRE, Role.GRID, Role.SYSTEM)
MAX_HOTSPOT_DAYS = 366
_PHONE = re.compile(r"^[0-9+\-() ]{3,40}$")


class SuggestRequest(BaseModel):
    """What the operator has typed so far."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=MAX_TEXT)
    description: str = Field(default="", max_length=MAX_TEXT)
    area_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\-() ]{3,40}$")
    exclude_case_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _has_text(self) -> SuggestRequest:
        if len((self.title + self.description).strip()) < 2:
            raise ValueError("title or description: give at least two characters of text")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude: give both or neither")
        return self


def parse_request(data: Any) -> SuggestRequest:
    """Validate a suggestion request, naming each wrong field."""
    if not isinstance(data, dict):
        raise InvalidInput("suggestion: expected an object")
    try:
        return SuggestRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False)
        )
        raise InvalidInput(f"suggestion: {problems}") from None


@dataclass(frozen=True)
class Loaded:
    """The model in use, read once per version per process."""

    scorer: Scorer
    version: int | None
    dispatch: dict[str, Any]


_cache: dict[Any, Loaded] = {}
_lock = threading.Lock()


def _db_key(session: Session) -> str:
    bind = session.get_bind()
    return str(getattr(bind, "url", id(bind)))


def active_model(session: Session) -> Loaded:
    """The newest stored model, or a seed from the categories when none was trained yet."""
    row = session.execute(
        select(InsightModel.id, InsightModel.version).order_by(InsightModel.version.desc())
    ).first()
    if row is not None:
        key: Any = ("model", _db_key(session), row.version)
    else:
        fingerprint = session.execute(
            select(func.count(), func.max(OrgNode.id)).select_from(OrgNode)
        ).one()
        cats = queries.categories(session)
        key = ("seed", _db_key(session), tuple(fingerprint),
               tuple((c.id, c.name_zh, tuple(c.keywords or ())) for c in cats))  # fmt: skip
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    if row is not None:
        stored = session.get(InsightModel, row.id)
        assert stored is not None
        loaded = Loaded(classifier.loads(stored.artefact), stored.version, dict(stored.dispatch))
    else:
        loaded = Loaded(_seed(session), None, {})
    with _lock:
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = loaded
    return loaded


def _seed_documents(session: Session) -> dict[str, str]:
    cats = [c for c in queries.categories(session) if not queries.is_unlabelled(c)]
    parents = {c.id: c for c in cats}
    docs = {}
    for c in cats:
        parent = parents.get(c.parent_id) if c.parent_id else None
        names = [c.name_zh, c.name_en, *(c.keywords or [])]
        if parent is not None:
            names += [parent.name_zh]
        docs[c.code] = " ".join(names)
    return docs


def _seed(session: Session) -> Scorer:
    docs = _seed_documents(session)
    if not docs:
        raise InvalidInput("suggestion: no categories yet: create categories first")
    return classifier.seed(docs)


def _check_role(actor: Actor) -> None:
    if actor.role not in INTAKE_ROLES:
        raise Forbidden(f"role '{actor.role}' does not take in cases and gets no suggestions")


def _area(session: Session, actor: Actor, area_id: int | None) -> OrgNode | None:
    if area_id is None:
        return None
    area = session.get(OrgNode, area_id)
    if area is None or area.kind not in AREA_KINDS:
        raise InvalidInput(f"suggestion: area_id: {area_id} is not an area")
    try:
        check_area_in_scope(actor, area)
    except Forbidden:
        # Suggestions show cases of the area: outside the actor's scope it is not there.
        raise OutOfScope(f"suggestion: area {area_id} not found") from None
    return area


def _depth(area: OrgNode | None) -> int:
    return max(0, len([p for p in area.path.split("/") if p]) - 1) if area else 0


def suggest_many(
    *,
    session: Session,
    actor: Actor,
    requests: Sequence[SuggestRequest],
    now: datetime,
    lexicon: Lexicon,
) -> list[Suggestion]:
    """Suggestions for each request, scored together (one model call for the batch)."""
    _check_role(actor)
    areas = [_area(session, actor, r.area_id) for r in requests]
    loaded = active_model(session)
    refs = queries.category_refs(session)
    ranked = classifier.top(
        loaded.scorer, [Item(r.title, r.description) for r in requests], k=len(refs) or 3
    )
    out = []
    for request, area, best in zip(requests, areas, ranked, strict=True):
        cats = [CategoryScore(refs[code], score) for code, score in best if code in refs][:3]
        routes = _routes(session, cats, area)
        history, orgs = _dispatch_context(session, loaded, cats, routes, area)
        probe = Probe(
            request.title, request.description, area.path if area else None, _depth(area),
            request.latitude, request.longitude, request.phone,
        )  # fmt: skip
        candidates = queries.duplicate_candidates(
            session, actor=actor, area=area, latitude=request.latitude,
            longitude=request.longitude, phone=request.phone, now=now,
            exclude=request.exclude_case_id,
        )  # fmt: skip
        out.append(
            suggest(
                probe=probe, categories=cats, calibrated=loaded.scorer.calibrated, routes=routes,
                history=history, orgs=orgs, lexicon=lexicon,
                candidates=candidates, model_version=loaded.version,
            )
        )  # fmt: skip
    return out


def _routes(
    session: Session, cats: Sequence[CategoryScore], area: OrgNode | None
) -> dict[int, Route]:
    routes = {}
    for entry in cats:
        found = route(session, category_id=entry.category.id, area_path=area.path if area else "")
        if found is not None:
            routes[entry.category.id] = Route(found[0], tuple(found[1]))
    return routes


def _dispatch_context(
    session: Session, loaded: Loaded, cats: Sequence[CategoryScore], routes: dict[int, Route],
    area: OrgNode | None,
) -> tuple[dict[int, dict[int, DispatchCount]], dict[int, OrgRef]]:  # fmt: skip
    """This district's dispatch history of the model, and the departments that may be named."""
    history = queries.history_for(loaded.dispatch, area.path if area else None)
    org_ids = {r.lead_id for r in routes.values()} | {
        a for r in routes.values() for a in r.assisting_ids
    }
    org_ids |= {o for c in cats for o in history.get(c.category.id, {})}
    return history, queries.org_refs(session, org_ids)


@dataclass(frozen=True)
class CaseSuggestion:
    """What the case page and its dispatch dialog show of a case already taken in."""

    suggestion: Suggestion
    similar: list[tuple[Duplicate, Case]]


def suggest_for_case(
    *, session: Session, actor: Actor, case: Case, now: datetime, lexicon: Lexicon
) -> CaseSuggestion | None:
    """Departments ranked for the case (its own category when it has one, else the model's)
    and its similar cases; None for a role that takes in no cases or a case of no text."""
    if actor.role not in INTAKE_ROLES:
        return None
    try:
        request = SuggestRequest(
            title=case.title[:MAX_TEXT], description=(case.description or "")[:MAX_TEXT],
            area_id=case.area_id, latitude=case.latitude, longitude=case.longitude,
            phone=case.reporter_phone if _PHONE.match(case.reporter_phone or "") else None,
            exclude_case_id=case.id,
        )  # fmt: skip
    except ValidationError:
        return None
    try:
        found = suggest_one(session=session, actor=actor, request=request, now=now, lexicon=lexicon)
    except (InvalidInput, OutOfScope):
        # No categories yet, or the case's area lies outside the actor's own (a grid worker
        # sees a case of a neighbouring grid): the page shows the case without suggestions.
        return None
    if case.category_id is not None:
        refs = {r.id: r for r in queries.category_refs(session).values()}
        own = refs.get(case.category_id)
        if own is not None:
            area = session.get(OrgNode, case.area_id)
            cats = [CategoryScore(own, 1.0)]
            routes = _routes(session, cats, area)
            history, orgs = _dispatch_context(session, active_model(session), cats, routes, area)
            found = replace(
                found,
                departments=rank_departments(cats, routes=routes, history=history, orgs=orgs),
            )
    cases = {
        c.id: c
        for c in session.scalars(
            select(Case).where(Case.id.in_([d.case_id for d in found.duplicates] or [-1]))
        )
    }
    similar = [(d, cases[d.case_id]) for d in found.duplicates if d.case_id in cases]
    return CaseSuggestion(found, similar)


def suggest_one(
    *, session: Session, actor: Actor, request: SuggestRequest, now: datetime, lexicon: Lexicon
) -> Suggestion:
    """Suggestions for the case being taken in."""
    return suggest_many(session=session, actor=actor, requests=[request], now=now, lexicon=lexicon)[
        0
    ]


@use_case
def train(*, session: Session, now: datetime, max_cases: int = MAX_TRAINING) -> InsightModel:
    """Learn a new model version from the deployment's cases (a seed when it has too few)."""
    started = time.perf_counter()
    items, labels, loose = queries.training_rows(
        session, limit=max_cases, unlabelled_limit=MAX_UNLABELLED
    )
    described = classifier.subcategory_texts(queries.category_paths(session))
    metrics: dict[str, Any] = {}
    if len(classifier.learnable(labels)) >= 2:
        try:
            metrics = classifier.cross_validate(
                items[:MAX_VALIDATION], labels[:MAX_VALIDATION], unlabelled=loose,
                described=described,
            ).as_dict()  # fmt: skip
        except ValueError as exc:
            metrics = {"note": str(exc)}
        model: Scorer = classifier.fit(items, labels, unlabelled=loose, described=described)
        kind = "learned"
    else:
        model, kind = _seed(session), "seed"
        metrics = {"note": "too few classified cases to learn: seeded from category names"}
    version = (session.scalar(select(func.max(InsightModel.version))) or 0) + 1
    row = InsightModel(
        version=version, kind=kind, created_at=now, samples=len(items), unlabelled=len(loose),
        seconds=round(time.perf_counter() - started, 2), metrics=metrics,
        dispatch=queries.dispatch_history(session), artefact=classifier.dumps(model),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


# The dates a window may span: the growth against the previous window looks back as far again.
EARLIEST_YEAR, LATEST_YEAR = 1900, 9000


def day_window(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants [start, end) of the days ``first`` to ``last`` (both included) in ``zone``."""
    if not (first.year >= EARLIEST_YEAR and last.year <= LATEST_YEAR):
        raise InvalidInput(
            f"hotspots: dates must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    start = datetime.combine(first, day_start_time(), zone)
    return start, datetime.combine(last + timedelta(days=1), day_start_time(), zone)


def hotspots(
    *, session: Session, actor: Actor, start: datetime, end: datetime, top: int = 10
) -> list[Cluster]:
    """The hottest clusters of the cases taken in within [start, end) that the actor sees."""
    if not (start.year >= EARLIEST_YEAR and end.year <= LATEST_YEAR):
        raise InvalidInput(
            f"hotspots: dates must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    if end <= start:
        raise InvalidInput("hotspots: the window ends before it starts")
    if end - start > timedelta(days=MAX_HOTSPOT_DAYS):
        raise InvalidInput(f"hotspots: the window is longer than {MAX_HOTSPOT_DAYS} days")
    if not 1 <= top <= 100:
        raise InvalidInput(f"hotspots: top: expected 1 to 100, got {top}")
    if actor.role in (Role.RESIDENT, Role.UNIT):
        raise Forbidden(f"role '{actor.role}' does not see hotspots")
    current = queries.window_cases(session, actor=actor, start=start, end=end)
    previous = queries.window_cases(session, actor=actor, start=start - (end - start), end=start)
    return clusters(current, previous=previous, top=top)


def summary_of(cluster: Cluster) -> str:
    """The cluster's summary as it may leave its audience: personal data redacted."""
    return redact(cluster.summary)


class Promotion(BaseModel):
    """A hotspot made a governance item (每月一题 / 未诉先办)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=10_000)
    area_id: int = Field(ge=1, le=2**31 - 1)
    workflow: str = Field(default="street_whistle", pattern=r"^(street_whistle|community_whistle)$")
    case_ids: list[int] = Field(min_length=1, max_length=1000)


@use_case
def promote(
    *, session: Session, rt: Runtime, actor: Actor, promotion: Promotion, now: datetime
) -> Case:
    """Raise a street or community whistle linked to the hotspot's cases."""
    wanted = set(promotion.case_ids)
    known = queries.known_case_ids(session, wanted, actor=actor)
    if missing := sorted(wanted - known):
        raise InvalidInput(f"promotion: case_ids: no such case {', '.join(map(str, missing[:10]))}")
    draft = CaseDraft(
        workflow=promotion.workflow, title=promotion.title,
        description=redact(promotion.description), area_id=promotion.area_id, source=Source.WHISTLE,
    )  # fmt: skip
    # Raised inside this use case: the item and its links commit together.
    item = raise_in_transaction(session=session, rt=rt, actor=actor, draft=draft, now=now)
    for case_id in sorted(wanted):
        session.add(
            CaseLink(case_id=item.id, linked_case_id=case_id, kind="hotspot", created_at=now)
        )
    session.flush()
    return item
