"""Reading the evaluation: figures of a level for a period, rankings, drill-down, year-end report.

Figures come from the rollups (one grouped query per level); drill-down asks the same
``contribution`` function that keeps the rollups which cases stand behind a figure, so the two
always tell the same story. Every function checks the actor's scope first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.case.queries import case_titles, visible_to
from engine.errors import InvalidInput
from engine.evaluation.figures import figures, rank
from engine.evaluation.models import UnitRating
from engine.evaluation.period import Period, month_label
from engine.evaluation.recompute import case_batches
from engine.evaluation.scope import cases_clause, check_reader, check_unit, visible_units
from engine.organisation.calendars import calendar_book
from engine.organisation.models import OrgNode
from engine.redaction import redact
from engine.rollup.contribution import contribution, month_of
from engine.rollup.metrics import ROLLUP_LEVEL, Cohort, Figure, Level, Metric, RollupLevel
from engine.rollup.models import Rollup
from engine.rollup.scheme import EvaluationScheme, get_scheme
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, AssignmentState, OrgKind

_M = Metric
# Figure → (numerator counters, denominator counters) for drill-down.
DRILL: dict[Figure, tuple[tuple[Metric, ...], tuple[Metric, ...]]] = {
    Figure.CASES: ((_M.INCLUDED, _M.EXCLUDED), ()),
    Figure.ASSIGNMENTS: ((_M.ASSIGNMENTS,), ()),
    Figure.RESPONSE_RATE: ((_M.RESPONDED,), (_M.RESPONSE_BASE,)),
    Figure.RESPONSE_PENDING: ((_M.RESPONSE_PENDING,), ()),
    Figure.RESOLUTION_RATE: ((_M.SOLVED,), (_M.ASSESSED,)),
    Figure.SATISFACTION_RATE: (
        (_M.RATED_SATISFIED, _M.RATED_BASIC, _M.RATED_DISSATISFIED),
        (_M.RATED_SATISFIED, _M.RATED_BASIC, _M.RATED_DISSATISFIED),
    ),
    Figure.ON_TIME_RESOLUTION_RATE: ((_M.RESOLVED_ON_TIME,), (_M.RESOLVE_DUE,)),
    Figure.OBJECTION_RATE: ((_M.OBJECTED,), (_M.ASSIGNED,)),
    Figure.REDO_RATE: ((_M.REDONE,), (_M.INCLUDED,)),
    Figure.EXTENSIONS: ((_M.EXTENSIONS,), ()),
    Figure.SUPERVISIONS: ((_M.SUPERVISIONS,), ()),
    Figure.RED_STEPS: ((_M.RED_STEPS,), ()),
    Figure.DEDUCTION: ((_M.RED_STEPS,), ()),
    Figure.MEAN_HANDLING_HOURS: ((_M.HANDLING_SECONDS,), (_M.RESOLVED,)),
    Figure.EXCLUDED: ((_M.EXCLUDED,), ()),
    Figure.DEMANDS: ((_M.LEAD_CASES,), ()),
    Figure.DEMANDS_ON_TIME_RATE: ((_M.RESOLVED_ON_TIME,), (_M.LEAD_CASES,)),
    Figure.SERVICE_HOURS: ((_M.SERVICE_CENTIHOURS,), ()),
}
_GRADE_WEIGHT = {
    _M.RATED_SATISFIED: "satisfied",
    _M.RATED_BASIC: "basically_satisfied",
    _M.RATED_DISSATISFIED: "dissatisfied",
}


@dataclass
class Evaluation:
    """The figures of every unit of one level in one period, ranked."""

    level: Level
    period: Period
    as_of: datetime
    complete: bool
    rows: list[dict[str, Any]]
    red_list: list[dict[str, Any]] = field(default_factory=list)
    black_list: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": str(self.level),
            **period_head(self.period, self.as_of, self.complete),
            "rows": self.rows,
            "red_list": [_listed(r) for r in self.red_list],
            "black_list": [_listed(r) for r in self.black_list],
        }


def period_head(period: Period, as_of: datetime, complete: bool) -> dict[str, Any]:
    """What a report says about its period."""
    return {
        "period": {
            "from": month_label(period.first),
            "to": month_label(period.last),
            "note": period.note,
            "complete": complete,
        },
        "as_of": as_of.isoformat(),
    }


def _listed(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("rank", "unit_id", "unit_name", "level", "composite")
    return {k: row[k] for k in keys}


def evaluate(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    level: Level,
    period: Period,
    now: datetime,
    scheme: EvaluationScheme | None = None,
    unit_id: int | None = None,
    monthly: bool = False,
) -> Evaluation:
    """The ranked figures of the level's units in the actor's scope (or of one unit)."""
    scheme = scheme or get_scheme()
    if unit_id is not None:
        units = [check_unit(session, actor, level, unit_id)]
    else:
        units = visible_units(session, actor, level)
    counts = _counts(session, level, period, unit_id)
    ratings = _ratings(session, period) if level == Level.UNIT else {}
    rows: list[dict[str, Any]] = []
    by_month: dict[int, list[dict[str, Any]]] = {m: [] for m in period.months()}
    for node in units:
        months = counts.get(node.id, {})
        if not node.active and not months:
            continue  # a retired node with nothing in the period
        rated = ratings.get(node.id, {})
        total: dict[str, int] = {}
        for month_counts in months.values():
            for metric, value in month_counts.items():
                total[metric] = total.get(metric, 0) + value
        values = figures(total, scheme, level=level, community_rating=_mean(rated, period.years()))
        row: dict[str, Any] = {"unit_id": node.id, "unit_name": node.name_zh}
        row |= {"unit_name_en": node.name_en, "level": str(level)} | _plain(values)
        if monthly:
            series: list[dict[str, Any]] = []
            row["months"] = series
            for month in period.months():
                values = figures(
                    months.get(month, {}), scheme, level=level,
                    community_rating=_mean(rated, [month // 100]),
                )  # fmt: skip
                month_row = {"month": month_label(month), "unit_id": node.id} | _plain(values)
                series.append(month_row)
                by_month[month].append(month_row)
        rows.append(row)
    for month_rows in by_month.values():
        rank(
            month_rows, scheme.list_size, scheme.min_volume
        )  # each month's own rank, shown in the series
    ranked = rank(rows, scheme.list_size, scheme.min_volume)
    _, end = period.bounds(rt.calendar.zone)
    return Evaluation(
        level, period, now, now >= end, ranked.rows, ranked.red_list, ranked.black_list
    )


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in values.items()}


def _counts(
    session: Session, level: Level, period: Period, unit_id: int | None
) -> dict[int, dict[int, dict[str, int]]]:
    # Departments and units share the org rollups: read only the level's own nodes.
    nodes = select(OrgNode.id).where(OrgNode.kind == OrgKind(level.value))
    stmt = (
        select(Rollup.unit_id, Rollup.month, Rollup.metric, func.sum(Rollup.value))
        .where(
            Rollup.level == ROLLUP_LEVEL[level],
            Rollup.month.between(period.first, period.last),
            Rollup.unit_id.in_(nodes),
        )
        .group_by(Rollup.unit_id, Rollup.month, Rollup.metric)
    )
    if unit_id is not None:
        stmt = stmt.where(Rollup.unit_id == unit_id)
    out: dict[int, dict[int, dict[str, int]]] = {}
    for unit, month, metric, value in session.execute(stmt):
        out.setdefault(unit, {}).setdefault(month, {})[metric] = int(value)
    return out


def _ratings(session: Session, period: Period) -> dict[int, dict[int, list[float]]]:
    stmt = select(UnitRating.unit_id, UnitRating.year, UnitRating.score).where(
        UnitRating.year.in_(period.years())
    )
    out: dict[int, dict[int, list[float]]] = {}
    for unit, year, score in session.execute(stmt):
        out.setdefault(unit, {}).setdefault(year, []).append(score)
    return out


def _mean(by_year: Mapping[int, list[float]], years: list[int]) -> float | None:
    scores = [s for y in years for s in by_year.get(y, [])]
    return round(sum(scores) / len(scores), 4) if scores else None


@dataclass(frozen=True)
class Share:
    """One case's part in a figure."""

    case_id: int
    month: str
    metric: str
    value: int


@dataclass
class DrillDown:
    level: Level
    unit_id: int
    figure: Figure
    period: Period
    numerator: list[Share]
    denominator: list[Share]

    def to_dict(self) -> dict[str, Any]:
        def side(shares: list[Share]) -> dict[str, Any]:
            return {
                "case_ids": sorted({s.case_id for s in shares}),
                "total": sum(s.value for s in shares),
                "cases": [s.__dict__ for s in shares],
            }

        return {
            "level": str(self.level),
            "unit_id": self.unit_id,
            "figure": str(self.figure),
            "period": str(self.period),
            "numerator": side(self.numerator),
            "denominator": side(self.denominator),
        }


def drill_down(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    level: Level,
    unit_id: int,
    figure: Figure,
    period: Period,
    scheme: EvaluationScheme | None = None,
) -> DrillDown:
    """The cases behind a figure's numerator and denominator, with what each adds."""
    scheme = scheme or get_scheme()
    check_unit(session, actor, level, unit_id)
    if figure not in DRILL:
        drillable = ", ".join(sorted(DRILL))
        raise InvalidInput(
            f"drill-down: '{figure}' is made of other figures; use one of {drillable}"
        )
    numerator, denominator = DRILL[figure]
    if figure == Figure.SATISFACTION_RATE:
        numerator = tuple(
            m for m in numerator if scheme.satisfaction.model_dump()[_GRADE_WEIGHT[m]]
        )
    rollup_level = ROLLUP_LEVEL[level]
    months = set(period.months())
    num: list[Share] = []
    den: list[Share] = []
    where = [*_cohort_clauses(period, rt, scheme.cohort), _unit_clause(rollup_level, unit_id)]
    # A unit's figure spans streets; its cases are listed only to those who may see them.
    where.append(visible_to(actor))
    book = calendar_book(session, rt.calendar)
    for chunk in case_batches(session, where=where, batch=2000):
        for case, assignments in chunk:
            calendar = book.for_path(case.area_path)
            for (lv, unit, month, metric), value in contribution(
                case, assignments, calendar=calendar, cohort=scheme.cohort
            ).items():
                if lv != rollup_level or unit != unit_id or month not in months:
                    continue
                share = Share(case.id, month_label(month), metric, value)
                if metric in numerator:
                    num.append(share)
                if metric in denominator:
                    den.append(share)
    return DrillDown(level, unit_id, figure, period, num, den)


def drill_titles(*, session: Session, actor: Actor, case_ids: list[int]) -> dict[int, str]:
    """The titles of the drill-down's cases the actor may see, redacted of personal data: the
    evaluation's readers judge the handling, and what they read goes into their notes and files."""
    out: dict[int, str] = {}
    for start in range(0, len(case_ids), 1000):  # bounded IN lists, however long the drill-down
        found = case_titles(session, actor=actor, case_ids=case_ids[start : start + 1000])
        out |= {case_id: redact(title) for case_id, title in found.items()}
    return out


def _cohort_clauses(period: Period, rt: Runtime, cohort: Cohort) -> list[ColumnElement[bool]]:
    start, end = period.bounds(rt.calendar.zone)
    stamp = Case.dispatched_at if cohort == Cohort.DISPATCHED else Case.created_at
    return [stamp >= start, stamp < end]


def _unit_clause(level: RollupLevel, unit_id: int) -> ColumnElement[bool]:
    match level:
        case RollupLevel.ORG:
            return Case.id.in_(select(Assignment.case_id).where(Assignment.org_id == unit_id))
        case RollupLevel.STREET:
            return Case.street_id == unit_id
        case RollupLevel.COMMUNITY:
            return Case.community_id == unit_id
        case _:
            raise AssertionError(f"no unit clause for rollup level {level}")


@dataclass
class Report:
    """A year-end (or any period's) report: figures per level, and the case lists, streamed."""

    period: Period
    as_of: datetime
    complete: bool
    scheme: Mapping[str, Any]
    evaluations: list[Evaluation]
    red_step_cases: Callable[[], Iterator[dict[str, Any]]]
    excluded_cases: Callable[[], Iterator[dict[str, Any]]]


def year_end_report(
    *,
    session: Session,
    rt: Runtime,
    actor: Actor,
    period: Period,
    levels: list[Level],
    now: datetime,
    scheme: EvaluationScheme | None = None,
) -> Report:
    """Per level and unit: monthly series, period totals, composite and rank; red/black lists;
    the cases with red steps and the excluded cases."""
    scheme = scheme or get_scheme()
    check_reader(actor)
    evaluations = [
        evaluate(
            session=session,
            rt=rt,
            actor=actor,
            level=level,
            period=period,
            now=now,
            scheme=scheme,
            monthly=True,
        )
        for level in levels
    ]
    where = [*_cohort_clauses(period, rt, scheme.cohort), cases_clause(actor)]

    def red_step_cases() -> Iterator[dict[str, Any]]:
        return _case_list(session, rt, [*where, Case.red_count > 0])

    def excluded_cases() -> Iterator[dict[str, Any]]:
        return _case_list(session, rt, [*where, Case.excluded.is_(True)])

    _, end = period.bounds(rt.calendar.zone)
    return Report(
        period, now, now >= end, scheme.summary(), evaluations, red_step_cases, excluded_cases
    )


CASE_LIST_FIELDS = (
    "case_id", "title", "month", "street_id", "community_id", "lead_org_id", "state", "red_steps",
    "supervisions", "excluded", "exclusion_reason",
)  # fmt: skip


def _case_list(
    session: Session, rt: Runtime, where: list[ColumnElement[bool]]
) -> Iterator[dict[str, Any]]:
    lead = (
        select(Assignment.org_id)
        .where(
            Assignment.case_id == Case.id,
            Assignment.role == AssignmentRole.LEAD,
            Assignment.state != AssignmentState.WITHDRAWN,
        )
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(
            Case.id,
            Case.title,
            Case.dispatched_at,
            Case.street_id,
            Case.community_id,
            lead,
            Case.state,
            Case.red_count,
            Case.supervise_count,
            Case.excluded,
            Case.exclusion_reason,
        )
        .where(Case.dispatched_at.is_not(None), *where)
        .order_by(Case.id)
        .execution_options(yield_per=1000)
    )
    zone = rt.calendar.zone
    for row in session.execute(stmt):
        # A report travels beyond the case's audience: its text is redacted of personal data.
        values = (row[0], redact(row[1]), month_label(month_of(row[2], zone)), *row[3:])
        yield dict(zip(CASE_LIST_FIELDS, values, strict=True))
