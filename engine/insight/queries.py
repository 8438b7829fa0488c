"""Reads of the insight aggregate: training rows, dispatch history, duplicate candidates, the
cases of a hotspot window, similar and merged cases of a case page. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.queries import visible_to
from engine.event.models import Event
from engine.insight.classifier import Item
from engine.insight.duplicates import WINDOW, Candidate, phone_key
from engine.insight.hotspots import HotCase
from engine.insight.models import CaseLink, InsightModel
from engine.insight.scorer import CategoryRef, DispatchCount, OrgRef
from engine.organisation.models import Category, OrgNode
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, Rating, Source

# Categories that mean "not classified yet": their cases teach words, never a label.
UNLABELLED_NAMES = frozenset({"未分类", "待分类", "unclassified", "uncategorised"})
ENDED = (CaseState.MERGED, CaseState.CANCELLED)
OPEN = (CaseState.REPORTED, CaseState.ASSIGNED, CaseState.REPORTING_IN, CaseState.RETURNED)


def latest_model(session: Session) -> InsightModel | None:
    """The model in use: the highest version."""
    return session.scalars(select(InsightModel).order_by(InsightModel.version.desc())).first()


def model_versions(session: Session, *, limit: int = 20) -> list[InsightModel]:
    """The newest versions first (their metrics; the artefact is not loaded until read)."""
    return list(
        session.scalars(select(InsightModel).order_by(InsightModel.version.desc()).limit(limit))
    )


def categories(session: Session) -> list[Category]:
    """The active categories."""
    return list(session.scalars(select(Category).where(Category.active).order_by(Category.id)))


def is_unlabelled(category: Category) -> bool:
    return category.name_zh.lower() in UNLABELLED_NAMES or category.name_en.lower() in (
        UNLABELLED_NAMES
    )


def category_refs(session: Session) -> dict[str, CategoryRef]:
    """Active categories by code."""
    return {
        c.code: CategoryRef(c.id, c.code, c.name_zh, c.name_en)
        for c in categories(session)
        if not is_unlabelled(c)
    }


def category_paths(session: Session) -> list[list[tuple[str, str]]]:
    """The active category tree's root-to-leaf paths, each category as (code, its names and
    keywords): what ``classifier.subcategory_texts`` reads."""
    cats = {c.id: c for c in categories(session) if not is_unlabelled(c)}
    parents = {c.parent_id for c in cats.values()}
    paths = []
    for leaf in (c for c in cats.values() if c.id not in parents):
        path: list[tuple[str, str]] = []
        node: Category | None = leaf
        while node is not None:
            text = " ".join([node.name_zh, node.name_en, *(node.keywords or [])])
            path.append((node.code, text))
            node = cats.get(node.parent_id) if node.parent_id is not None else None
        paths.append(path[::-1])
    return paths


def training_rows(
    session: Session, *, limit: int, unlabelled_limit: int
) -> tuple[list[Item], list[str], list[Item]]:
    """The newest ``limit`` classified cases (items, category codes) and unclassified texts."""
    unlabelled_ids = [c.id for c in categories(session) if is_unlabelled(c)]
    labelled = session.execute(
        select(Case.title, Case.description, Category.code)
        .join(Category, Category.id == Case.category_id)
        .where(Case.state.not_in(ENDED), Category.id.not_in(unlabelled_ids or [-1]))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    ).all()
    loose = session.execute(
        select(Case.title, Case.description)
        .where(or_(Case.category_id.is_(None), Case.category_id.in_(unlabelled_ids or [-1])))
        .order_by(Case.created_at.desc())
        .limit(unlabelled_limit)
    ).all()
    return (
        [Item(t, d or "") for t, d, _ in labelled],
        [code for _, _, code in labelled],
        [Item(t, d or "") for t, d in loose],
    )


def labelled_since(session: Session, *, since: datetime | None) -> int:
    """Classified cases taken in after ``since`` (all of them when None): what a new model
    would learn that the newest one has not seen."""
    unlabelled_ids = [c.id for c in categories(session) if is_unlabelled(c)]
    stmt = (
        select(func.count())
        .select_from(Case)
        .where(Case.category_id.is_not(None), Case.category_id.not_in(unlabelled_ids or [-1]))
    )
    if since is not None:
        stmt = stmt.where(Case.created_at > since)
    return int(session.scalar(stmt) or 0)


def _district(area_path: str) -> str:
    parts = [p for p in area_path.split("/") if p]
    return parts[0] if parts else ""


def dispatch_history(session: Session) -> dict[str, dict[str, dict[str, list[int]]]]:
    """{district id: {category id: {org id: [times made lead, objections upheld]}}}."""
    upheld = and_(
        Assignment.state == AssignmentState.WITHDRAWN, Assignment.objection_reason.is_not(None)
    )
    rows = session.execute(
        select(
            Case.area_path, Case.category_id, Assignment.org_id, upheld.label("upheld"),
            func.count(),
        )
        .join(Assignment, Assignment.case_id == Case.id)
        .where(Assignment.role == AssignmentRole.LEAD, Case.category_id.is_not(None))
        .group_by(Case.area_path, Case.category_id, Assignment.org_id, upheld)
    ).all()  # fmt: skip
    out: dict[str, dict[str, dict[str, list[int]]]] = {}
    for path, category_id, org_id, was_upheld, count in rows:
        cell = out.setdefault(_district(path), {}).setdefault(str(category_id), {})
        pair = cell.setdefault(str(org_id), [0, 0])
        pair[0] += count
        pair[1] += count if was_upheld else 0
    return out


def history_for(
    dispatch: dict[str, Any], area_path: str | None
) -> dict[int, dict[int, DispatchCount]]:
    """The dispatch history of the district of ``area_path`` (all districts when unknown)."""
    districts = [dispatch.get(_district(area_path), {})] if area_path else list(dispatch.values())
    merged: dict[int, dict[int, DispatchCount]] = defaultdict(dict)
    for cells in districts:
        for category_id, orgs in cells.items():
            for org_id, (n, upheld) in orgs.items():
                old = merged[int(category_id)].get(int(org_id), DispatchCount(0, 0))
                merged[int(category_id)][int(org_id)] = DispatchCount(
                    old.dispatched + n, old.upheld + upheld
                )
    return dict(merged)


def org_refs(session: Session, ids: Collection[int]) -> dict[int, OrgRef]:
    if not ids:
        return {}
    rows = session.scalars(select(OrgNode).where(OrgNode.id.in_(list(ids)), OrgNode.active))
    return {n.id: OrgRef(n.id, n.name_zh, n.name_en) for n in rows}


_CANDIDATE_COLUMNS = (
    Case.id, Case.title, Case.description, Case.area_path, Case.state, Case.created_at,
    Case.latitude, Case.longitude, Case.reporter_phone,
)  # fmt: skip


def duplicate_candidates(
    session: Session,
    *,
    actor: Actor,
    area: OrgNode | None,
    latitude: float | None,
    longitude: float | None,
    phone: str | None,
    now: datetime,
    exclude: int | None = None,
    limit: int = 300,
) -> list[Candidate]:
    """Open or recent cases at the probe's place (area, or a box around its point) or phone,
    newest first.

    Each way of being near is its own query on its own index (a place by time, a phone), so a
    place with years of closed cases costs no more than its recent and open ones."""
    since = now - WINDOW
    common = (Case.state.not_in(ENDED), Case.id != (exclude or -1), visible_to(actor))
    live = or_(Case.created_at >= since, Case.state.in_(OPEN))
    seen: dict[int, Any] = {}

    def add(query: Any, most: int) -> None:
        for row in session.execute(query.order_by(Case.created_at.desc()).limit(most)):
            seen.setdefault(row.id, row)

    if area is not None:
        at = Case.area_path == area.path
        add(select(*_CANDIDATE_COLUMNS).where(at, Case.created_at >= since, *common), limit)
        if len(seen) < limit:  # older open cases rank below every recent one: fill up only
            older = select(*_CANDIDATE_COLUMNS).where(
                at, Case.created_at < since, Case.state.in_(OPEN), *common
            )
            add(older, limit - len(seen))
    queries: list[Any] = []
    if latitude is not None and longitude is not None:
        box = 0.01  # about 1 km: the exact distance is the scorer's
        queries.append(
            select(*_CANDIDATE_COLUMNS).where(
                Case.latitude.between(latitude - box, latitude + box),
                Case.longitude.between(longitude - box, longitude + box),
                live, *common,
            )
        )  # fmt: skip
    key = phone_key(phone)
    if phone and key:
        queries.append(
            select(*_CANDIDATE_COLUMNS).where(Case.reporter_phone.in_({phone, key}), live, *common)
        )
    for query in queries:
        add(query, limit)
    rows = sorted(seen.values(), key=lambda r: (r.created_at, r.id), reverse=True)[:limit]
    return [
        Candidate(
            r.id, r.title, r.description or "", r.area_path, r.state, r.created_at,
            r.latitude, r.longitude, r.reporter_phone,
        )
        for r in rows
    ]  # fmt: skip


def window_cases(
    session: Session, *, actor: Actor, start: datetime, end: datetime
) -> list[HotCase]:
    """The cases the actor sees that were taken in within [start, end), as hotspot input."""
    raised = and_(Event.case_id == Case.id, Event.seq == 1, Case.source == Source.IMPORT)
    rows = session.execute(
        select(
            Case.id, Case.source_ref, Case.title, Case.description, Case.created_at,
            Case.street_id, Case.area_id, Case.reporter_phone, Case.reporter_account_id,
            Case.rating, Event.payload,
        )
        .outerjoin(Event, raised)
        .where(
            Case.created_at >= start, Case.created_at < end, Case.state.not_in(ENDED),
            visible_to(actor),
        )
    ).all()  # fmt: skip
    names = _area_names(session, {r.street_id or r.area_id for r in rows})
    out = []
    for r in rows:
        facts = (r.payload or {}).get("facts", {}) if r.payload else {}
        reporter = r.reporter_phone or (
            f"account:{r.reporter_account_id}" if r.reporter_account_id else facts.get("user")
        )
        out.append(
            HotCase(
                id=r.id, source_ref=r.source_ref, title=r.title, description=r.description or "",
                created_at=r.created_at, place_key=str(r.street_id or ""),
                place=names.get(r.street_id or r.area_id, ""), reporter=reporter or None,
                reactions=_count(facts.get("likes")) + _count(facts.get("against"))
                + (1 if r.rating == Rating.DISSATISFIED else 0),
            )
        )  # fmt: skip
    return out


def _count(value: Any) -> int:
    try:
        return max(0, int(str(value).strip() or 0))
    except ValueError:
        return 0


def _area_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(OrgNode.id, OrgNode.name_zh).where(OrgNode.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows}


def merged_into(session: Session, *, actor: Actor, case_id: int) -> list[Case]:
    """The cases merged into this one that the actor sees (its repeat reports)."""
    return list(
        session.scalars(
            select(Case)
            .where(Case.merged_into_id == case_id, visible_to(actor))
            .order_by(Case.created_at)
        )
    )


def linked_cases(session: Session, *, actor: Actor, case_id: int) -> list[Case]:
    """The member cases a governance item links (its hotspot)."""
    return list(
        session.scalars(
            select(Case)
            .join(CaseLink, CaseLink.linked_case_id == Case.id)
            .where(CaseLink.case_id == case_id, visible_to(actor))
            .order_by(Case.created_at)
        )
    )


def known_case_ids(session: Session, ids: Collection[int], *, actor: Actor) -> set[int]:
    """The ids among ``ids`` of cases that exist and that the actor sees."""
    if not ids:
        return set()
    return set(session.scalars(select(Case.id).where(Case.id.in_(list(ids)), visible_to(actor))))
