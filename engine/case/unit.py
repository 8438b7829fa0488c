"""The case aggregate in memory: loaded in one statement, moved, then handed to the writer.

``CaseUnit.load`` reads the case, its assignments, pending requests and clocks in one round trip
(a ``UNION ALL`` of each row as JSON), builds plain in-memory rows of the mapped classes — never
attached to a session — and remembers what each row held. Moves change those rows and append
events; nothing reads the database until ``engine/case/writer.py`` persists the difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Boolean, Table, text
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.calendar import WorkCalendar
from engine.case.facts import RollupTracker
from engine.case.models import Case, CaseRequest
from engine.db import JSONType, UTCDateTime, copy_json, unattached
from engine.deadline.models import Deadline
from engine.deadline.service import sync_clocks
from engine.driver_sql import prepared
from engine.errors import NotFound, StaleVersion
from engine.event.models import Event
from engine.event.service import new_event
from engine.organisation.snapshot import Organisation, version_expr
from engine.runtime import Runtime
from engine.vocabulary import DeadlineState, RequestStatus, Subject
from engine.workflow.guards import GuardContext
from engine.workflow.loader import Workflow

T = TypeVar("T")


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


CASES, ASSIGNMENTS, REQUESTS, DEADLINES, EVENTS = (
    table_of(m) for m in (Case, Assignment, CaseRequest, Deadline, Event)
)
_KINDS: tuple[tuple[Table, type[Any]], ...] = (
    (CASES, Case),
    (ASSIGNMENTS, Assignment),
    (REQUESTS, CaseRequest),
    (DEADLINES, Deadline),
)


def _column_json(table: Table, dialect: str) -> str:
    """One row of ``table`` as a JSON object, in the dialect's SQL."""
    if dialect == "postgresql":
        return f"row_to_json({table.name}.*)::text"
    parts = []
    for col in table.columns:
        value = f'"{col.name}"'
        if isinstance(col.type, type(JSONType)) or col.type is JSONType:
            value = f"json({value})"
        parts.append(f"'{col.name}', {value}")
    return f"json_object({', '.join(parts)})"


def _load_parts(dialect: str, case_is: str, *, keyed: bool) -> list[str]:
    """The four SELECTs of a load (case, assignments, pending requests, clocks), each row as JSON;
    ``case_is`` is the condition on the case's id; ``keyed`` adds each row's case id."""
    version = str(version_expr().compile(compile_kwargs={"literal_binds": True}))
    pending = RequestStatus.PENDING.value
    key, child_key = (", id AS case_key", ", case_id") if keyed else ("", "")
    return [
        f"SELECT 0 AS kind, id, {_column_json(CASES, dialect)} AS body, {version} AS org{key} "
        f"FROM cases WHERE id {case_is}",
        f"SELECT 1, id, {_column_json(ASSIGNMENTS, dialect)}, NULL{child_key} FROM assignments "
        f"WHERE case_id {case_is}",
        f"SELECT 2, id, {_column_json(REQUESTS, dialect)}, NULL{child_key} FROM case_requests "
        f"WHERE case_id {case_is} AND status = '{pending}'",
        f"SELECT 3, id, {_column_json(DEADLINES, dialect)}, NULL{child_key} FROM deadlines "
        f"WHERE case_id {case_is}",
    ]


@cache
def _load_sql(dialect: str, by_assignment: bool) -> Any:
    """The one statement that reads a case and its children (built once per dialect)."""
    target = (
        "(SELECT case_id FROM assignments WHERE id = :key)"
        if by_assignment
        else "CAST(:key AS INTEGER)"
    )
    parts = _load_parts(dialect, f"= {target}", keyed=False)
    return text(" UNION ALL ".join(parts) + " ORDER BY 1, 2")


def _is_json(kind: Any) -> bool:
    return kind is JSONType or "JSON" in type(kind).__name__


@cache
def _load_many_sql(dialect: str) -> Any:
    """The one statement that reads many cases and their children, each case's rows together
    and its own row first (built once per dialect; the ids travel as one parameter)."""
    if dialect == "postgresql":
        keys = "SELECT unnest(CAST(:keys AS INTEGER[]))"
    else:
        keys = "SELECT value FROM json_each(:keys)"
    parts = _load_parts(dialect, f"IN ({keys})", keyed=True)
    return text(" UNION ALL ".join(parts) + " ORDER BY 5, 1, 2")


def _decoder(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turns a row's JSON object back, in place, into the Python values the mapped class holds."""
    times = [c.name for c in table.columns if isinstance(c.type, UTCDateTime)]
    flags = [c.name for c in table.columns if isinstance(c.type, Boolean)]
    blobs = [c.name for c in table.columns if _is_json(c.type)]

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        for name in times:
            value = row[name]
            if value is not None:
                row[name] = _utc(value)
        for name in flags:
            if row[name] is not None:
                row[name] = bool(row[name])
        for name in blobs:
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        return row

    return decode


def _utc(text: str) -> datetime:
    """A stored time as aware UTC. The columns hold naive UTC text, read with its offset added:
    a third of the cost of parsing it and then replacing its tzinfo."""
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:  # a text that names its own offset
        return datetime.fromisoformat(text).astimezone(UTC)


_DECODERS = {table.name: _decoder(table) for table, _ in _KINDS}
_COLUMNS = {
    table.name: tuple(c.name for c in table.columns) for table in (*(t for t, _ in _KINDS), EVENTS)
}
# The columns whose values may be lists or dicts (copied, not shared, in a snapshot).
_JSON_COLUMNS = {
    table.name: tuple(c.name for c in table.columns if _is_json(c.type))
    for table in (*(t for t, _ in _KINDS), EVENTS)
}
# The columns a change is looked for in: the version is the writer's to bump, never a move's.
_DIFFED = {name: tuple(c for c in columns if c != "version") for name, columns in _COLUMNS.items()}
_DIFFED_VALUES = {name: itemgetter(*columns) for name, columns in _DIFFED.items()}


def snapshot_of(row: Any, table: Table) -> dict[str, Any]:
    """What a row holds now, column by column (JSON values copied, so later edits show).

    Read from the row's own dict: these rows are never attached to a session, so nothing is
    deferred or expired and an attribute never set is simply absent (None).
    """
    name = table.name
    columns = _COLUMNS[name]
    out = dict(zip(columns, map(row.__dict__.get, columns), strict=True))
    for c in _JSON_COLUMNS[name]:
        value = out[c]
        if isinstance(value, (list, dict)):
            out[c] = copy_json(value)
    return out


def changed_columns(row: Any, table: Table, before: Mapping[str, Any]) -> dict[str, Any]:
    """The columns whose values differ from ``before`` (a snapshot), the version aside.

    Compared in place, without a snapshot of the row: the values are sent, not kept.
    """
    name = table.name
    values = _DIFFED_VALUES[name]
    try:
        # Most loaded rows are unchanged: two tuples compared at C speed say so.
        now, was = values(row.__dict__), values(before)
    except KeyError:  # a column never set on the row (absent means None)
        held, get = row.__dict__, before.get
        return {c: v for c in _DIFFED[name] if (v := held.get(c)) != get(c)}
    if now == was:
        return {}
    return {c: v for c, v, w in zip(_DIFFED[name], now, was, strict=True) if v != w}


@dataclass
class CaseUnit:
    """One case and everything a move may change, with what each row held when loaded."""

    rt: Runtime
    org: Organisation
    workflow: Workflow
    case: Case
    assignments: list[Assignment]
    requests: list[CaseRequest]
    deadlines: list[Deadline]
    now: datetime
    # The org version the load saw; the writer's guard refuses to write if it moved since.
    org_version: int = 0
    # The working-day calendar of the case's district (the deployment's unless it names one).
    calendar: WorkCalendar | None = None
    new: bool = False
    events: list[Event] = field(default_factory=list)
    loaded: dict[int, dict[str, Any]] = field(default_factory=dict)
    rollups: RollupTracker | None = None
    _next_temp_id: int = -1

    @property
    def running(self) -> list[Deadline]:
        """The open clocks (kept as a list that moves may shrink or grow)."""
        return self._running

    def running_clock(self, clock: str) -> Deadline | None:
        """The case's own running clock of this name (not an assignment's), if one runs."""
        return next(
            (d for d in self._running if d.clock == clock and d.assignment_id is None), None
        )

    def __post_init__(self) -> None:
        self._running = [d for d in self.deadlines if d.state == DeadlineState.OPEN]
        if self.calendar is None:
            self.calendar = self.org.calendar_for(self.case.area_path, self.rt.calendar)

    @property
    def clock_calendar(self) -> WorkCalendar:
        """The calendar this case's clocks run on."""
        assert self.calendar is not None
        return self.calendar

    @classmethod
    def load(
        cls,
        session: Session,
        rt: Runtime,
        now: datetime,
        *,
        case_id: int | None = None,
        assignment_id: int | None = None,
    ) -> CaseUnit:
        """Read the case (by its id or one of its assignments') and its children, afresh."""
        by_assignment = assignment_id is not None
        key = assignment_id if by_assignment else case_id
        conn = session.connection()
        load = prepared(_load_sql(conn.dialect.name, by_assignment), conn.dialect)
        rows: list[Any] = list(load.run(conn, {"key": key}).fetchall())
        if not rows or rows[0].kind != 0:
            what = f"assignment {assignment_id}" if by_assignment else f"case {case_id}"
            raise NotFound(f"{what} not found")
        return cls.from_rows(session, rt, now, rows)

    @classmethod
    def load_many(
        cls, session: Session, rt: Runtime, now: datetime, *, case_ids: Sequence[int]
    ) -> dict[int, CaseUnit]:
        """Read many cases and their children in one statement, afresh; by case id (a case
        that does not exist is absent)."""
        if not case_ids:
            return {}
        dialect = session.get_bind().dialect.name
        keys: Any = list(case_ids) if dialect == "postgresql" else json.dumps(list(case_ids))
        rows = session.connection().execute(_load_many_sql(dialect), {"keys": keys}).all()
        groups: dict[int, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.case_key, []).append(row)
        return {
            case_id: cls.from_rows(session, rt, now, group)
            for case_id, group in groups.items()
            if group[0].kind == 0  # children of a case gone meanwhile have no case row
        }

    @classmethod
    def from_rows(
        cls, session: Session, rt: Runtime, now: datetime, rows: Sequence[Any]
    ) -> CaseUnit:
        """The unit of one case from its rows of the load statement (the case's row first)."""
        loaded: dict[int, dict[str, Any]] = {}
        built: list[list[Any]] = [[], [], [], []]
        for kind, _id, body, *_ in rows:
            table, model = _KINDS[kind]
            values = _DECODERS[table.name](json.loads(body))
            row = unattached(model, values)
            # The decoded values are every column as loaded: they are the snapshot once the
            # JSON ones the row now shares are copied.
            for c in _JSON_COLUMNS[table.name]:
                value = values[c]
                if isinstance(value, (list, dict)):
                    values[c] = copy_json(value)
            loaded[id(row)] = values
            built[kind].append(row)
        org = rt.org.get(session)
        stored_version = int(rows[0].org or 0)
        if stored_version != org.version:
            org = rt.org.refresh(session, seen=stored_version)
        case = built[0][0]
        unit = cls(
            rt=rt,
            org=org,
            workflow=rt.workflows.get(case.workflow),
            case=case,
            assignments=built[1],
            requests=built[2],
            deadlines=built[3],
            now=now,
            org_version=stored_version,
            loaded=loaded,
        )
        unit.rollups = RollupTracker.start(
            calendar=unit.clock_calendar,
            cohort=rt.scheme.cohort,
            case=case,
            assignments=unit.assignments,
            running=unit.running,
        )
        return unit

    def ctx(
        self, assignment: Assignment | None = None, payload: Mapping[str, Any] | None = None
    ) -> GuardContext:
        return GuardContext(
            case=self.case,
            assignments=self.assignments,
            requests=self.requests,
            assignment=assignment,
            payload=payload or {},
        )

    def assignment(self, assignment_id: int) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        raise NotFound(f"assignment {assignment_id} not found")

    def temp_id(self) -> int:
        """A stand-in id for a new row; the writer replaces it with the stored one."""
        value = self._next_temp_id
        self._next_temp_id -= 1
        return value

    def fire_case(
        self, actor: Actor, trigger: str, payload: Mapping[str, Any] | None = None
    ) -> Event:
        """Fire a case trigger and record it."""
        before = self.case.state
        self.workflow.case.fire(self.case, trigger, self.ctx(payload=payload))
        return self.record(actor, trigger, Subject.CASE, before, self.case.state, payload, None)

    def fire_assignment(
        self,
        actor: Actor,
        assignment: Assignment,
        trigger: str,
        payload: Mapping[str, Any] | None = None,
    ) -> Event:
        """Fire an assignment trigger and record it on the case's chain."""
        before = assignment.state
        self.workflow.assignment.fire(assignment, trigger, self.ctx(assignment, payload))
        return self.record(
            actor, trigger, Subject.ASSIGNMENT, before, assignment.state, payload, assignment.id
        )

    def may_fire_case(self, trigger: str) -> bool:
        """Whether a case trigger would pass from the current state (for automatic moves)."""
        machine = self.workflow.case
        return self.case.state in machine.sources(trigger) and machine.guards_pass(
            self.case, trigger, self.ctx()
        )

    def record(
        self,
        actor: Actor,
        trigger: str,
        subject: Subject,
        before: str | None,
        after: str | None,
        payload: Mapping[str, Any] | None,
        assignment_id: int | None,
    ) -> Event:
        """Append an event to the move (the writer links it into the chain)."""
        event = new_event(
            self.case,
            actor=actor,
            trigger=trigger,
            subject=subject,
            from_state=before,
            to_state=after,
            now=self.now,
            payload=payload,
            assignment_id=assignment_id,
        )
        self.events.append(event)
        return event

    def check_version(self, subject: Case | Assignment, expected: int | None) -> None:
        """Refuse to act on an older version than the stored one."""
        if expected is not None and subject.version != expected:
            kind = "case" if isinstance(subject, Case) else "assignment"
            raise StaleVersion(
                f"{kind} {subject.id} is at version {subject.version}; the request was for "
                f"version {expected}"
            )

    def sync_clocks(self) -> None:
        """Open, keep or close the clocks for the states as they are now.

        ``finish`` does this once at the end; a move that passes through a state whose clocks
        matter (a claim is a dispatch and an acceptance in one move) calls it in between.
        """
        opened = sync_clocks(
            workflow=self.workflow,
            calendar=self.clock_calendar,
            case=self.case,
            assignments=self.assignments,
            running=self.running,
            now=self.now,
        )
        self.deadlines.extend(opened)

    def finish(self) -> dict[tuple[str, int, int, str], int]:
        """Bring the clocks in line and note the evaluation's facts; the rollup change."""
        self.case.updated_at = self.now
        self.sync_clocks()
        assert self.rollups is not None
        return self.rollups.finish(
            case=self.case,
            assignments=self.assignments,
            running=self.running,
            events=self.events,
        )
