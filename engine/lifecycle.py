"""A case loaded for one use case, with the moves that may be applied to it.

Both services (case and assignment triggers) work through a ``CaseUnit``: it fires triggers on
the shared machines, appends the events, and at the end brings the clocks in line — all inside the
caller's single transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.access import Actor
from engine.assignment.models import Assignment
from engine.case.models import Case, CaseRequest
from engine.deadline.models import Deadline
from engine.deadline.service import open_deadlines, sync_clocks
from engine.errors import NotFound, StaleVersion
from engine.evaluation.rollup import RollupTracker
from engine.event.models import Event
from engine.event.service import append_event
from engine.runtime import Runtime
from engine.vocabulary import RequestStatus, Subject
from engine.workflow.guards import GuardContext
from engine.workflow.loader import Workflow

P = ParamSpec("P")
R = TypeVar("R")
_ATTEMPTS = 3


def use_case(fn: Callable[P, R]) -> Callable[P, R]:
    """Commit once on success, roll back on any error.

    A concurrent writer of the same case makes the version-guarded UPDATE match no row; the whole
    use case then runs again on fresh rows, where the caller's own expected version (if given) is
    checked anew — so a real conflict still surfaces as ``StaleVersion``.
    """

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                result = fn(*args, **kwargs)
                session.commit()
                return result
            except StaleDataError as exc:
                session.rollback()
                if attempt == _ATTEMPTS:
                    raise StaleVersion(f"the case kept changing under {fn.__name__}") from exc
            except BaseException:
                session.rollback()
                raise
        raise AssertionError("unreachable")

    return run


@dataclass
class CaseUnit:
    session: Session
    rt: Runtime
    workflow: Workflow
    case: Case
    assignments: list[Assignment]
    requests: list[CaseRequest]
    running: list[Deadline]
    now: datetime
    events: list[Event] = field(default_factory=list)
    # The case's contribution to the evaluation as loaded; ``finish`` adds the change to it.
    rollups: RollupTracker | None = None

    @classmethod
    def load(cls, session: Session, rt: Runtime, case_id: int, now: datetime) -> CaseUnit:
        """Load a case with its assignments, pending requests and running clocks.

        Every row is read afresh (``populate_existing``): a long-lived session must not decide on
        rows that another session has changed since it last looked.
        """
        case = session.get(Case, case_id, populate_existing=True)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        assignments = list(
            session.scalars(
                select(Assignment)
                .where(Assignment.case_id == case_id)
                .order_by(Assignment.id)
                .execution_options(populate_existing=True)
            )
        )
        requests = list(
            session.scalars(
                select(CaseRequest)
                .where(CaseRequest.case_id == case_id, CaseRequest.status == RequestStatus.PENDING)
                .execution_options(populate_existing=True)
            )
        )
        running = open_deadlines(session, case_id)
        return cls(
            session=session,
            rt=rt,
            workflow=rt.workflows.get(case.workflow),
            case=case,
            assignments=assignments,
            requests=requests,
            running=running,
            now=now,
            rollups=RollupTracker.start(
                calendar=rt.calendar, case=case, assignments=assignments, running=running
            ),
        )

    def ctx(
        self, assignment: Assignment | None = None, payload: Mapping[str, Any] = {}
    ) -> GuardContext:
        return GuardContext(
            case=self.case,
            assignments=self.assignments,
            requests=self.requests,
            assignment=assignment,
            payload=payload,
        )

    def assignment(self, assignment_id: int) -> Assignment:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        raise NotFound(f"assignment {assignment_id} not found")

    def fire_case(
        self, actor: Actor, trigger: str, payload: Mapping[str, Any] | None = None
    ) -> Event:
        """Fire a case trigger and record it."""
        before = self.case.state
        self.workflow.case.fire(self.case, trigger, self.ctx(payload=payload or {}))
        return self._record(actor, trigger, Subject.CASE, before, self.case.state, payload, None)

    def fire_assignment(
        self,
        actor: Actor,
        assignment: Assignment,
        trigger: str,
        payload: Mapping[str, Any] | None = None,
    ) -> Event:
        """Fire an assignment trigger and record it on the case's chain."""
        before = assignment.state
        self.workflow.assignment.fire(assignment, trigger, self.ctx(assignment, payload or {}))
        return self._record(
            actor, trigger, Subject.ASSIGNMENT, before, assignment.state, payload, assignment.id
        )

    def may_fire_case(self, trigger: str) -> bool:
        """Whether a case trigger would pass from the current state (for automatic moves)."""
        machine = self.workflow.case
        return self.case.state in machine.sources(trigger) and machine.guards_pass(
            self.case, trigger, self.ctx()
        )

    def _record(
        self,
        actor: Actor,
        trigger: str,
        subject: Subject,
        before: str,
        after: str,
        payload: Mapping[str, Any] | None,
        assignment_id: int | None,
    ) -> Event:
        event = append_event(
            self.session,
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

    def finish(self) -> None:
        """Bring the clocks in line and write the case row (which bumps its version)."""
        self.case.updated_at = self.now
        self.sync_clocks()
        if self.rollups is not None:
            self.rollups.finish(
                self.session,
                case=self.case,
                assignments=self.assignments,
                running=self.running,
                events=self.events,
            )

    def sync_clocks(self) -> None:
        """Open, keep or close the deadline rows for the states as they are now.

        ``finish`` does this once at the end; a use case that passes through a state whose
        clocks matter (a claim is a dispatch and an acceptance in one move) calls it in between.
        """
        sync_clocks(
            self.session,
            workflow=self.workflow,
            calendar=self.rt.calendar,
            case=self.case,
            assignments=self.assignments,
            running=self.running,
            now=self.now,
        )
