"""The full recompute: every figure rebuilt from the case and assignment rows, compared exactly
with the rollups, and (on request) the differences added back so that the two agree again.

On PostgreSQL the scan reads one snapshot (REPEATABLE READ), and a fix adds ``expected − stored``
as a delta in a later transaction: writers that commit meanwhile add their own deltas, so a fix
never loses one. On SQLite (the single-writer embedded setup) the scan assumes no writer runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.calendar import WorkCalendar
from engine.case.models import Case
from engine.organisation.calendars import calendar_book
from engine.rollup.contribution import Contribution, Key, contribution
from engine.rollup.metrics import Cohort
from engine.rollup.models import Rollup
from engine.rollup.store import add_to_rollups
from engine.uow import committed

BATCH = 10_000


class CaseRow(NamedTuple):
    """The columns of a case the evaluation reads (a plain tuple: cheap to read a million)."""

    id: int
    dispatched_at: datetime | None
    created_at: datetime
    area_path: str
    street_id: int | None
    community_id: int | None
    excluded: bool
    rating: str | None
    solved: bool | None
    verified_solved: bool | None
    resolved_at: datetime | None
    resolved_on_time: bool | None
    redo_count: int
    extension_count: int
    supervise_count: int
    red_count: int


class AssignmentRow(NamedTuple):
    """The columns of an assignment the evaluation reads."""

    case_id: int
    org_id: int
    role: str
    state: str
    accepted_on_time: bool | None
    reported_in_on_time: bool | None
    objection_reason: str | None
    service_hours: float | None
    supervise_count: int
    red_count: int


CASE_COLUMNS = tuple(getattr(Case, name) for name in CaseRow._fields)
ASSIGNMENT_COLUMNS = tuple(getattr(Assignment, name) for name in AssignmentRow._fields)


@dataclass(frozen=True)
class Difference:
    key: Key
    stored: int
    expected: int

    def __str__(self) -> str:
        level, unit_id, month, metric = self.key
        return (
            f"{level} {unit_id} {month // 100}-{month % 100:02d} {metric}: "
            f"rollup {self.stored}, recomputed {self.expected}"
        )


@dataclass
class RecomputeResult:
    cases: int = 0
    assignments: int = 0
    keys: int = 0
    differences: list[Difference] = field(default_factory=list)
    fixed: bool = False
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return (self.cases + self.assignments) / self.seconds if self.seconds else 0.0


def case_batches(
    session: Session, *, where: Sequence[ColumnElement[bool]] = (), batch: int = BATCH
) -> Iterator[list[tuple[CaseRow, list[AssignmentRow]]]]:
    """Every dispatched case (that ``where`` admits) with its assignments, in batches by id."""
    connection = session.connection()  # Core rows: the ORM layer adds nothing to a scan
    last = 0
    while True:
        cases = [
            CaseRow._make(row)
            for row in connection.execute(
                select(*CASE_COLUMNS)
                .where(Case.id > last, Case.dispatched_at.is_not(None), *where)
                .order_by(Case.id)
                .limit(batch)
            )
        ]
        if not cases:
            return
        lo, hi = cases[0].id, cases[-1].id
        by_case: dict[int, list[AssignmentRow]] = {row.id: [] for row in cases}
        rows = connection.execute(
            select(*ASSIGNMENT_COLUMNS).where(Assignment.case_id.between(lo, hi))
        )
        for row in rows:
            bucket = by_case.get(row.case_id)
            if bucket is not None:
                bucket.append(AssignmentRow._make(row))
        yield [(row, by_case[row.id]) for row in cases]
        last = hi


def expected_rollups(
    session: Session,
    *,
    calendar: WorkCalendar,
    cohort: Cohort,
    result: RecomputeResult | None = None,
    progress: Callable[[int], None] | None = None,
) -> Contribution:
    """The sum of every case's contribution, each on its own district's calendar."""
    totals: Contribution = {}
    book = calendar_book(session, calendar)
    for chunk in case_batches(session):
        for case, assignments in chunk:
            on = book.for_path(case.area_path) if len(book) else calendar
            contribution(case, assignments, calendar=on, cohort=cohort, into=totals)
            if result is not None:
                result.cases += 1
                result.assignments += len(assignments)
        if progress is not None and result is not None:
            progress(result.cases)
    return totals


def stored_rollups(session: Session) -> Contribution:
    """The rollups as stored, shards summed."""
    stmt = select(
        Rollup.level, Rollup.unit_id, Rollup.month, Rollup.metric, func.sum(Rollup.value)
    ).group_by(Rollup.level, Rollup.unit_id, Rollup.month, Rollup.metric)
    return {(lv, u, m, k): int(v) for lv, u, m, k, v in session.execute(stmt)}


def compare(stored: Contribution, expected: Contribution) -> list[Difference]:
    """Every key whose stored value is not the recomputed one (absent counts as 0)."""
    found = []
    for key in sorted(stored.keys() | expected.keys()):
        have, want = stored.get(key, 0), expected.get(key, 0)
        if have != want:
            found.append(Difference(key, have, want))
    return found


def recompute(
    *,
    session: Session,
    calendar: WorkCalendar,
    cohort: Cohort,
    fix: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RecomputeResult:
    """Rebuild every figure and compare it with the rollups; with ``fix``, make them agree.

    Ends the session's current transaction first (the scan needs a snapshot of its own): give it
    a session with nothing pending.
    """
    started = time.perf_counter()
    result = RecomputeResult()
    session.rollback()  # start a fresh transaction: the snapshot below is this one
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        expected = expected_rollups(
            session, calendar=calendar, cohort=cohort, result=result, progress=progress
        )
        result.keys = len(expected)
        result.differences = compare(stored_rollups(session), expected)
    finally:
        session.rollback()
    if fix and result.differences:
        delta: dict[Key, int] = {d.key: d.expected - d.stored for d in result.differences}
        with committed(session):
            add_to_rollups(session, delta)
        result.fixed = True
    result.seconds = time.perf_counter() - started
    return result


def summary(result: RecomputeResult) -> dict[str, Any]:
    """The result as plain JSON values."""
    return {
        "cases": result.cases,
        "assignments": result.assignments,
        "keys": result.keys,
        "differences": len(result.differences),
        "fixed": result.fixed,
        "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows_per_second),
    }
