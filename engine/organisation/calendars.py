"""Calendars per jurisdiction: the districts that name their own working-day calendar.

A district's ``calendar`` (``CN`` or a ``holidays`` region such as ``US-MA``) and ``timezone``
replace the deployment's for every case inside it: its clocks, and the evaluation's working hours
and months. Districts that name neither use the deployment's calendar as it is.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.calendar import OFFICIAL, CalendarBook, WorkCalendar
from engine.organisation.models import OrgNode
from engine.vocabulary import OrgKind


def calendar_of(default: WorkCalendar, *, region: str | None, timezone: str | None) -> WorkCalendar:
    """The calendar a jurisdiction names; ``default`` where it names neither part."""
    if region is None and timezone is None:
        return default
    if (region or OFFICIAL) == OFFICIAL and region is None:
        # Only the time zone differs: keep the deployment's overrides with the official calendar.
        region = default.region
    return WorkCalendar(timezone=timezone or default.timezone, region=region or OFFICIAL)


def calendar_book(session: Session, default: WorkCalendar) -> CalendarBook:
    """Every district's calendar, by its path; the deployment's for the rest."""
    rows = session.execute(
        select(OrgNode.path, OrgNode.calendar, OrgNode.timezone).where(
            OrgNode.kind == OrgKind.DISTRICT,
            or_(OrgNode.calendar.is_not(None), OrgNode.timezone.is_not(None)),
        )
    )
    return CalendarBook(
        default,
        {path: calendar_of(default, region=region, timezone=zone) for path, region, zone in rows},
    )
