"""What one case contributes to the rollups, as a pure function of its current rows.

Rollups move by ``contribution(after) − contribution(before)`` in the transaction of each use
case, and a full recompute sums ``contribution`` over every case: the two agree by construction,
and drill-down asks the same function which cases stand behind a figure.

Attribution: the street and community levels take every fact of the case; an assignment org
(department or co-building unit) takes the facts of its own assignments (response, objections,
its clocks' supervisions and red steps, service hours) and, when it is the case's active lead,
the case's outcome (resolution, rating, on-time resolution, handling time, redo, extensions).
An excluded case (upheld appeal, unreasonable demand) counts in the volume only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Protocol

from engine.calendar import WorkCalendar
from engine.rollup.metrics import Cohort, Metric, RollupLevel
from engine.vocabulary import AssignmentRole, AssignmentState, Rating

# (rollup level, unit id, cohort month YYYYMM, metric) → value
Key = tuple[str, int, int, str]
Contribution = dict[Key, int]

# Plain strings for the hot loop (a recompute calls it a million times; enum lookups add up).
_ORG, _STREET, _COMMUNITY = (str(v.value) for v in RollupLevel)
_INCLUDED = Metric.INCLUDED.value
_EXCLUDED = Metric.EXCLUDED.value
_ASSIGNMENTS = Metric.ASSIGNMENTS.value
_ASSIGNED = Metric.ASSIGNED.value
_OBJECTED = Metric.OBJECTED.value
_RESPONSE_BASE = Metric.RESPONSE_BASE.value
_RESPONDED = Metric.RESPONDED.value
_RESPONSE_PENDING = Metric.RESPONSE_PENDING.value
_ASSESSED = Metric.ASSESSED.value
_SOLVED = Metric.SOLVED.value
_RESOLVED = Metric.RESOLVED.value
_RESOLVE_DUE = Metric.RESOLVE_DUE.value
_RESOLVED_ON_TIME = Metric.RESOLVED_ON_TIME.value
_HANDLING_SECONDS = Metric.HANDLING_SECONDS.value
_REDONE = Metric.REDONE.value
_EXTENSIONS = Metric.EXTENSIONS.value
_SUPERVISIONS = Metric.SUPERVISIONS.value
_RED_STEPS = Metric.RED_STEPS.value
_LEAD_CASES = Metric.LEAD_CASES.value
_SERVICE = Metric.SERVICE_CENTIHOURS.value
_LEAD = AssignmentRole.LEAD.value
_WITHDRAWN = AssignmentState.WITHDRAWN.value
_GRADE = {
    Rating.SATISFIED.value: Metric.RATED_SATISFIED.value,
    Rating.BASICALLY_SATISFIED.value: Metric.RATED_BASIC.value,
    Rating.DISSATISFIED.value: Metric.RATED_DISSATISFIED.value,
}
# Case facts the lead does not take from the case: its own come from its assignment's counters.
_CASE_ONLY = frozenset((_SUPERVISIONS, _RED_STEPS))


class CaseFacts(Protocol):
    """The columns of a case the evaluation reads (an ORM ``Case`` or a selected row)."""

    @property
    def id(self) -> int: ...
    @property
    def dispatched_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def street_id(self) -> int | None: ...
    @property
    def community_id(self) -> int | None: ...
    @property
    def excluded(self) -> bool: ...
    @property
    def rating(self) -> str | None: ...
    @property
    def solved(self) -> bool | None: ...
    @property
    def verified_solved(self) -> bool | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def resolved_on_time(self) -> bool | None: ...
    @property
    def redo_count(self) -> int: ...
    @property
    def extension_count(self) -> int: ...
    @property
    def supervise_count(self) -> int: ...
    @property
    def red_count(self) -> int: ...


class AssignmentFacts(Protocol):
    """The columns of an assignment the evaluation reads."""

    @property
    def org_id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def accepted_on_time(self) -> bool | None: ...
    @property
    def reported_in_on_time(self) -> bool | None: ...
    @property
    def objection_reason(self) -> str | None: ...
    @property
    def service_hours(self) -> float | None: ...
    @property
    def supervise_count(self) -> int: ...
    @property
    def red_count(self) -> int: ...


def month_of(moment: datetime, zone: tzinfo) -> int:
    """The local month of an instant, as YYYYMM."""
    local = moment.astimezone(zone)
    return local.year * 100 + local.month


def cohort_month(case: CaseFacts, zone: tzinfo, cohort: Cohort) -> int | None:
    """The month a case is filed under, or None while it has not been dispatched."""
    if case.dispatched_at is None:
        return None
    stamp = case.dispatched_at if cohort == Cohort.DISPATCHED else case.created_at
    return month_of(stamp, zone)


def contribution(
    case: CaseFacts,
    assignments: Iterable[AssignmentFacts],
    *,
    calendar: WorkCalendar,
    cohort: Cohort = Cohort.DISPATCHED,
    into: Contribution | None = None,
) -> Contribution:
    """Everything the case adds to the rollups, given its rows as they are now (added to
    ``into`` when given: a recompute sums a million cases without a dict per case)."""
    out: Contribution = {} if into is None else into
    month = cohort_month(case, calendar.zone, cohort)
    if month is None:
        return out  # a case counts from its dispatch on
    excluded = bool(case.excluded)
    outcome = {} if excluded else case_outcome(case, calendar)
    area = dict(outcome)
    area[_EXCLUDED if excluded else _INCLUDED] = 1
    per_org: dict[int, dict[str, int]] = {}
    lead_org: int | None = None
    for a in assignments:
        counts = per_org.get(a.org_id)
        if counts is None:
            counts = per_org[a.org_id] = {}
        live = _add_assignment(counts, area, a, excluded)
        if live and a.role == _LEAD:
            lead_org = a.org_id
    for org_id, counts in per_org.items():
        if counts.get(_ASSIGNMENTS):
            counts[_EXCLUDED if excluded else _INCLUDED] = 1
        if org_id == lead_org and not excluded:
            counts[_LEAD_CASES] = 1
            for metric, value in outcome.items():
                if metric not in _CASE_ONLY:
                    counts[metric] = counts.get(metric, 0) + value
        _emit(out, _ORG, org_id, month, counts)
    if case.street_id is not None:
        _emit(out, _STREET, case.street_id, month, area)
    if case.community_id is not None:
        _emit(out, _COMMUNITY, case.community_id, month, area)
    return out


def case_outcome(case: CaseFacts, calendar: WorkCalendar) -> dict[str, int]:
    """The case-level counters of a case in the rates (zero counters left out)."""
    out: dict[str, int] = {}
    if case.resolved_at is not None:
        out[_RESOLVED] = 1
        assert case.dispatched_at is not None
        seconds = calendar.working_seconds_between(case.dispatched_at, case.resolved_at)
        out[_HANDLING_SECONDS] = round(seconds)
        if case.resolved_on_time is not None:
            out[_RESOLVE_DUE] = 1
            out[_RESOLVED_ON_TIME] = int(case.resolved_on_time)
        # The resident's word when rated; otherwise the command centre's verification.
        verdict = case.solved if case.rating is not None else case.verified_solved
        if verdict is not None:
            out[_ASSESSED] = 1
            out[_SOLVED] = int(verdict)
        if case.rating is not None:
            out[_GRADE[case.rating]] = 1
    if case.redo_count:
        out[_REDONE] = 1
    if case.extension_count:
        out[_EXTENSIONS] = case.extension_count
    if case.supervise_count:
        out[_SUPERVISIONS] = case.supervise_count
    if case.red_count:
        out[_RED_STEPS] = case.red_count
    return out


def _add_assignment(
    counts: dict[str, int], area: dict[str, int], a: AssignmentFacts, excluded: bool
) -> bool:
    """Count one assignment for its org and for the case's areas; True when not withdrawn."""
    live = a.state != _WITHDRAWN
    if live:
        _bump(counts, area, _ASSIGNMENTS, 1)
        if a.service_hours:
            counts[_SERVICE] = counts.get(_SERVICE, 0) + round(a.service_hours * 100)
    if excluded:
        return live
    _bump(counts, area, _ASSIGNED, 1)
    if a.objection_reason is not None:
        _bump(counts, area, _OBJECTED, 1)
    if not live:
        return live  # withdrawn (objection upheld, case merged or cancelled): out of the response
    # Decided only when met or late: a clock still running is pending, never a failure (the
    # overdue step marks a clock late as soon as it passes its due time).
    if a.accepted_on_time is False or a.reported_in_on_time is False:
        _bump(counts, area, _RESPONSE_BASE, 1)
    elif a.accepted_on_time and a.reported_in_on_time:
        _bump(counts, area, _RESPONSE_BASE, 1)
        _bump(counts, area, _RESPONDED, 1)
    else:
        _bump(counts, area, _RESPONSE_PENDING, 1)
    if a.supervise_count:
        counts[_SUPERVISIONS] = counts.get(_SUPERVISIONS, 0) + a.supervise_count
    if a.red_count:
        counts[_RED_STEPS] = counts.get(_RED_STEPS, 0) + a.red_count
    return live


def _bump(counts: dict[str, int], area: dict[str, int], metric: str, value: int) -> None:
    counts[metric] = counts.get(metric, 0) + value
    area[metric] = area.get(metric, 0) + value


def _emit(out: Contribution, level: str, unit_id: int, month: int, counts: dict[str, int]) -> None:
    for metric, value in counts.items():
        if value:
            key = (level, unit_id, month, metric)
            out[key] = out.get(key, 0) + value


def difference(after: Contribution, before: Contribution) -> Contribution:
    """after − before, without the keys that did not move."""
    diff = {key: value - before.get(key, 0) for key, value in after.items()}
    for key, value in before.items():
        if key not in after:
            diff[key] = -value
    return {key: value for key, value in diff.items() if value}
