"""A year of history for the demo city, drawn from a seed and written through the bulk import
path, so that rankings, statistics and drill-down have content from the first minute.

``draw_history`` is pure: the same city, seed, size and day give the same cases, move for move.
The volume has the shape of a city hotline: more on working days (most on Mondays), a summer
peak, a dip over public holidays (the official calendar of ``engine.calendar``), calls by day
more than by night. ``load_history`` writes the drawn cases with the importer's bulk writer
(COPY on PostgreSQL, executemany on SQLite) and their rollups in one transaction — once per
database: a history already there is left as it is.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from itertools import accumulate
from typing import cast

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.calendar import WorkCalendar
from engine.case.models import Case
from engine.demo.city import DISTRICT, category_code
from engine.demo.lifecycle import Kind, Life, People, Place, draw_life
from engine.demo.rows import Ids, plan_life
from engine.demo.templates import TEMPLATES, Template
from engine.errors import InvalidInput, NotFound
from engine.importing.bulk import (
    ASSIGNMENTS,
    CASES,
    DEADLINES,
    allocate_ids,
    lock_for_writing,
    write_plans,
)
from engine.importing.days import RememberedDays
from engine.organisation.calendars import calendar_of
from engine.organisation.models import Account, Category, OrgNode
from engine.organisation.service import route
from engine.rollup.contribution import Contribution
from engine.runtime import Runtime
from engine.uow import committed
from engine.vocabulary import OrgKind, Role

DEFAULT_SIZE = 3000  # a year of a small district: the figures fill, a start stays quick
MAX_SIZE = 200_000
DEFAULT_SEED = 2026
DAYS = 365
LANGUAGES = ("zh", "en")
BATCH = 2000
REF_PREFIX = f"{DISTRICT[0]}-H-"  # the history's case numbers: QC-H-000001 …
_LOCK_KEY = 0x5148_4953  # PostgreSQL advisory lock of the history load ("QHIS")

# Monday … Sunday: a hotline hears most on Monday (the weekend's troubles), least on Sunday.
WEEKDAY = (1.30, 1.10, 1.05, 1.05, 1.00, 0.55, 0.45)
HOLIDAY = 0.40  # a public holiday on a weekday
ADJUSTED_WORKDAY = 0.95  # a weekend day worked in exchange for a holiday (调休)
# January … December: summer brings heat, storms, noise and water; the Spring Festival is quiet.
SEASON = (0.90, 0.78, 0.95, 1.00, 1.05, 1.15, 1.25, 1.22, 1.05, 0.95, 0.95, 0.90)
# Hours 0 … 23 of the day in the city.
HOURS = (0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 4.5, 6.0, 6.0, 5.0,
         3.5, 4.0, 5.5, 5.5, 5.0, 4.0, 3.0, 2.8, 2.5, 1.8, 1.0, 0.5)  # fmt: skip


@dataclass
class HistorySummary:
    """What ``load_history`` did."""

    created: bool  # False: a history was there already, nothing was added
    cases: int = 0  # written now, or found
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0
    by_month: dict[int, int] = field(default_factory=dict)  # YYYYMM → cases raised


@dataclass(frozen=True)
class CityView:
    """The parts of the demo city a history case is drawn from."""

    places: list[Place]
    kinds: list[Kind]
    departments: list[int]
    people: People


def day_weight(day: date, calendar: WorkCalendar) -> float:
    """How busy a day is, relative to an ordinary Friday in April."""
    weekend = day.weekday() >= 5
    working = calendar.is_working_day(day)
    weight = WEEKDAY[day.weekday()]
    if working and weekend:
        weight = ADJUSTED_WORKDAY
    elif not working and not weekend:
        weight = HOLIDAY
    return weight * SEASON[day.month - 1]


def opening_times(*, seed: int, size: int, now: datetime, calendar: WorkCalendar) -> list[datetime]:
    """``size`` raise times over the ``DAYS`` days before ``now``'s day, in order."""
    today = now.astimezone(calendar.zone).date()
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    rng = random.Random(f"{seed}:days")
    cumulative = list(accumulate(day_weight(d, calendar) for d in days))
    hours = list(accumulate(HOURS))
    out = []
    for _ in range(size):
        day = days[bisect_right(cumulative, rng.random() * cumulative[-1])]
        hour = bisect_right(hours, rng.random() * hours[-1])
        local = datetime.combine(day, clock_time(hour), tzinfo=calendar.zone)
        out.append((local + timedelta(seconds=rng.randrange(3600))).astimezone(now.tzinfo))
    return sorted(out)


def draw_history(
    *,
    view: CityView,
    rt: Runtime,
    calendar: WorkCalendar,
    seed: int,
    size: int,
    now: datetime,
    language: str = "zh",
) -> list[Life]:
    """The year's cases, each drawn from its own generator; a case still open at ``now`` is
    left out (the live simulation brings the open ones)."""
    workflows = {name: rt.workflows.get(name) for name in ("hotline", "street_whistle")}
    lives = []
    for number, raised_at in enumerate(opening_times(seed=seed, size=size, now=now,
                                                     calendar=calendar), start=1):  # fmt: skip
        life = draw_life(
            number=number, raised_at=raised_at, rng=random.Random(f"{seed}:case:{number}"),
            places=view.places, kinds=view.kinds,
            departments=view.departments, people=view.people, workflows=workflows,
            calendar=calendar, language=language, ref_prefix=REF_PREFIX,
        )  # fmt: skip
        if life.ended_at <= now:
            lives.append(life)
    return lives


def city_view(session: Session, district: OrgNode) -> CityView:
    """Grids, the kinds of case with their categories and routing, departments and the accounts
    that act, from the database."""
    nodes = list(
        session.scalars(
            select(OrgNode).where(OrgNode.path.startswith(district.path)).order_by(OrgNode.id)
        )
    )
    by_id = {n.id: n for n in nodes}
    places = []
    for grid in (n for n in nodes if n.kind == OrgKind.GRID):
        community = by_id[grid.parent_id or 0]
        places.append(Place(grid.id, grid.path, community.id, community.parent_id or 0,
                            community.name_zh, community.name_en))  # fmt: skip
    departments = [n.id for n in nodes if n.kind == OrgKind.DEPARTMENT]
    kinds = []
    for template in TEMPLATES:
        category_id = _category_of(session, template)
        if category_id is None:
            continue
        routed = route(session, category_id=category_id, area_path=district.path)
        if routed is not None:
            kinds.append(Kind(template, category_id, routed[0], tuple(routed[1])))
    people = _people(session, by_id)
    if not places or not kinds or not people.residents or not people.street_centres:
        raise NotFound(
            f"demo district '{district.code}' lacks grids, routed categories or demo accounts: "
            "run 'whistle demo' first"
        )
    return CityView(places, kinds, departments, people)


def _category_of(session: Session, template: Template) -> int | None:
    """The template's category; without it (a taxonomy that lacks it), its level 1's general
    one, or the level 1 itself."""
    l1, l2 = template.level1, template.level2
    for code in (category_code(l1, l2), category_code(l1, "其他"), category_code(l1)):
        found = session.scalar(select(Category.id).where(Category.code == code))
        if found is not None:
            return found
    return None


def _people(session: Session, nodes: dict[int, OrgNode]) -> People:
    residents: list[int] = []
    grids: dict[int, int] = {}
    centres: dict[int, int] = {}
    departments: dict[int, int] = {}
    accounts = session.execute(
        select(Account.id, Account.role, Account.scope_id)
        .where(Account.active.is_(True))
        .order_by(Account.id)
    )
    for account_id, role, scope_id in accounts:
        node = nodes.get(scope_id) if scope_id is not None else None
        if role == Role.RESIDENT:
            residents.append(account_id)
        elif node is None:
            continue
        elif role == Role.GRID and node.kind == OrgKind.COMMUNITY:
            grids.setdefault(node.id, account_id)
        elif role == Role.COMMAND_CENTRE and node.kind == OrgKind.STREET:
            centres.setdefault(node.id, account_id)
        elif role == Role.DEPARTMENT and node.kind == OrgKind.DEPARTMENT:
            departments.setdefault(node.id, account_id)
    return People(tuple(residents), grids, centres, departments)


def history_count(session: Session) -> int:
    """How many demo history cases the database holds."""
    found = session.scalar(
        select(func.count()).select_from(Case).where(Case.source_ref.startswith(REF_PREFIX))
    )
    return int(found or 0)


def load_history(
    *,
    session: Session,
    rt: Runtime,
    now: datetime,
    seed: int = DEFAULT_SEED,
    size: int = DEFAULT_SIZE,
    language: str = "zh",
) -> HistorySummary:
    """Draw the year before ``now`` and write it in one transaction, unless one is there."""
    if not 1 <= size <= MAX_SIZE:
        raise InvalidInput(f"history: size must be between 1 and {MAX_SIZE}, got {size}")
    if language not in LANGUAGES:
        raise InvalidInput(f"history: language must be one of {', '.join(LANGUAGES)}")
    started = time.perf_counter()
    district = session.scalar(select(OrgNode).where(OrgNode.code == DISTRICT[0]))
    if district is None:
        raise NotFound(f"no demo district '{DISTRICT[0]}': run 'whistle demo' first")
    present = history_count(session)
    if present:
        session.rollback()  # end the read; nothing to write
        return HistorySummary(created=False, cases=present)
    calendar = calendar_of(rt.calendar, region=district.calendar, timezone=district.timezone)
    lives = draw_history(view=city_view(session, district), rt=rt, calendar=calendar, seed=seed,
                         size=size, now=now, language=language)  # fmt: skip
    summary = HistorySummary(created=True, cases=len(lives))
    with committed(session):
        lock_for_writing(session)
        if session.get_bind().dialect.name == "postgresql":
            # Two starts at once on one database: the second waits here, then finds the first's.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        if history_count(session):  # another start wrote it meanwhile
            summary.created, summary.cases = False, history_count(session)
            return summary
        days = RememberedDays(calendar)
        for start in range(0, len(lives), BATCH):
            _write(session, rt, lives[start : start + BATCH], days)
    for life in lives:
        local = life.moves[0].at.astimezone(calendar.zone)
        month = local.year * 100 + local.month
        summary.by_month[month] = summary.by_month.get(month, 0) + 1
        summary.first_day = summary.first_day or local.date()
        summary.last_day = local.date()
    summary.seconds = time.perf_counter() - started
    return summary


def _write(session: Session, rt: Runtime, lives: list[Life], days: RememberedDays) -> None:
    """One batch: ids taken, rows planned, rows and rollups written (no commit)."""
    calendar = cast(WorkCalendar, days)  # the calendar's answers, its day bounds remembered
    case_ids = allocate_ids(session, CASES, len(lives))
    assignment_ids = iter(allocate_ids(session, ASSIGNMENTS, sum(len(x.work) for x in lives)))
    deadline_ids = iter(allocate_ids(session, DEADLINES, sum(len(x.clocks) for x in lives)))
    cohort = rt.scheme.cohort
    rollups: Contribution = {}
    plans = []
    for life, case_id in zip(lives, case_ids, strict=True):
        ids = Ids(case_id, [next(assignment_ids) for _ in life.work],
                  [next(deadline_ids) for _ in life.clocks])  # fmt: skip
        plans.append(plan_life(life, ids, workflow=rt.workflows.get(life.workflow),
                               calendar=calendar, cohort=cohort, rollups=rollups))  # fmt: skip
    write_plans(session, plans, rollups)
