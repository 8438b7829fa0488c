"""Intake statistics for a date range: volume by day and week, by category, street and source,
the top categories, and the weekly on-time resolution rate. Scoped like the case board.

Days and weeks are local days of the city's zone; a week is an ISO week (Monday first), named
by its Monday. Counts by category, street and source are grouped in the database; the daily
series reads one column per case of the range (the range is at most a year).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.case.models import Case
from engine.case.queries import visible_to
from engine.errors import InvalidInput
from engine.organisation.models import Category, OrgNode

MAX_DAYS = 366
TOP = 10


@dataclass(frozen=True)
class Named:
    """A count under a name in both languages (a category, a street, a source)."""

    key: str
    name_zh: str
    name_en: str
    count: int


@dataclass(frozen=True)
class Statistics:
    first: date
    last: date
    total: int
    by_day: list[tuple[date, int]]
    by_week: list[tuple[date, int]]
    by_category: list[Named]
    by_street: list[Named]
    by_source: list[tuple[str, int]]
    on_time_by_week: list[tuple[date, float | None, int]]  # (monday, rate, resolved with a due)

    @property
    def top_categories(self) -> list[Named]:
        """The most frequent categories, most first (at most ten)."""
        return self.by_category[:TOP]


def statistics(
    session: Session, *, actor: Actor, first: date, last: date, zone: tzinfo
) -> Statistics:
    """The statistics of the cases the actor may see, taken in from ``first`` to ``last``."""
    if last < first:
        raise InvalidInput(f"statistics: the range ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"statistics: a range is at most {MAX_DAYS} days")
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    where = [Case.created_at >= start, Case.created_at < end, visible_to(actor)]
    days = _days(session, where, zone, first, last)
    weeks: dict[date, int] = {}
    for day, n in days:
        monday = day - timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0) + n
    return Statistics(
        first=first,
        last=last,
        total=sum(n for _, n in days),
        by_day=days,
        by_week=sorted(weeks.items()),
        by_category=_by_category(session, where),
        by_street=_by_street(session, where),
        by_source=_by_source(session, where),
        on_time_by_week=_on_time(session, where, zone, first, last),
    )


def _days(
    session: Session, where: list[ColumnElement[bool]], zone: tzinfo, first: date, last: date
) -> list[tuple[date, int]]:
    counts = {first + timedelta(days=i): 0 for i in range((last - first).days + 1)}
    stmt = select(Case.created_at).where(*where).execution_options(yield_per=5000)
    for (created,) in session.execute(stmt):
        day = created.astimezone(zone).date()
        if day in counts:
            counts[day] += 1
    return sorted(counts.items())


def _by_category(session: Session, where: list[ColumnElement[bool]]) -> list[Named]:
    n = func.count(Case.id)
    stmt = (
        select(Case.category_id, Category.code, Category.name_zh, Category.name_en, n)
        .outerjoin(Category, Category.id == Case.category_id)
        .where(*where)
        .group_by(Case.category_id, Category.code, Category.name_zh, Category.name_en)
        .order_by(n.desc(), Category.code)
    )
    return [
        Named(code or "-", zh or "未分类", en or "Uncategorised", int(count))
        for _, code, zh, en, count in session.execute(stmt)
    ]


def _by_street(session: Session, where: list[ColumnElement[bool]]) -> list[Named]:
    n = func.count(Case.id)
    stmt = (
        select(Case.street_id, OrgNode.code, OrgNode.name_zh, OrgNode.name_en, n)
        .outerjoin(OrgNode, OrgNode.id == Case.street_id)
        .where(*where)
        .group_by(Case.street_id, OrgNode.code, OrgNode.name_zh, OrgNode.name_en)
        .order_by(n.desc(), OrgNode.code)
    )
    return [
        Named(code or "-", zh or "区级", en or "District level", int(count))
        for _, code, zh, en, count in session.execute(stmt)
    ]


def _by_source(session: Session, where: list[ColumnElement[bool]]) -> list[tuple[str, int]]:
    n = func.count(Case.id)
    stmt = select(Case.source, n).where(*where).group_by(Case.source).order_by(n.desc())
    return [(str(source), int(count)) for source, count in session.execute(stmt)]


def _on_time(
    session: Session, where: list[ColumnElement[bool]], zone: tzinfo, first: date, last: date
) -> list[tuple[date, float | None, int]]:
    monday = first - timedelta(days=first.weekday())
    weeks: dict[date, list[int]] = {}
    while monday <= last:
        weeks[monday] = [0, 0]
        monday += timedelta(days=7)
    stmt = (
        select(Case.created_at, Case.resolved_on_time)
        .where(*where, Case.resolved_on_time.is_not(None))
        .execution_options(yield_per=5000)
    )
    for created, on_time in session.execute(stmt):
        day = created.astimezone(zone).date()
        week = weeks.get(day - timedelta(days=day.weekday()))
        if week is not None:
            week[0] += int(bool(on_time))
            week[1] += 1
    return [(m, (met / due if due else None), due) for m, (met, due) in sorted(weeks.items())]
