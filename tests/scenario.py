"""Helpers for the case-engine tests: firing triggers by account name, driving a community whistle,
and full before/after snapshots of everything a use case may write.

``tests/builders.py`` drives hotline-like workflows; a community whistle is claimed by a unit
rather than dispatched, so it has its own driver here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case, CaseRequest
from engine.case.service import CaseDraft, raise_case, transition_assignment, transition_case
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.runtime import Runtime
from engine.vocabulary import (
    AppealKind,
    AssignmentRole,
    CallbackOutcome,
    CaseState,
    DeadlineState,
    Rating,
    Trigger,
)
from tests.builders import City, assignments_of, make_case, reload

STEP = timedelta(minutes=10)
MAIN_LINE = (
    CaseState.REPORTED,
    CaseState.ASSIGNED,
    CaseState.REPORTING_IN,
    CaseState.RESOLVED,
    CaseState.RATED,
)
# Who raises (and rates) a case of each built-in workflow in these tests.
RAISER = {"hotline": "resident", "street_whistle": "grid_c1", "community_whistle": "grid_c1"}

# A valid payload for every trigger a person may fire, so that only the state can be wrong.
VALID_PAYLOADS: dict[Trigger, dict[str, Any]] = {
    Trigger.DISPATCH: {},  # filled in with a department of the city
    Trigger.CLAIM: {},
    Trigger.RATE: {"solved": True, "rating": Rating.SATISFIED},
    Trigger.REDO: {"reason": "居民表示问题仍未解决"},
    Trigger.VERIFY: {"solved": True},
    Trigger.CALLBACK: {"outcome": CallbackOutcome.REACHED, "note": "居民表示路灯已亮"},
    Trigger.REQUEST_EXTENSION: {"reason": "需要协调物业", "extend_by": "3wd"},
    Trigger.APPROVE_EXTENSION: {},
    Trigger.DENY_EXTENSION: {"reason": "可在时限内办结"},
    Trigger.REQUEST_HARD_CASE: {"reason": "涉及历史遗留产权问题"},
    Trigger.APPROVE_HARD_CASE: {},
    Trigger.DENY_HARD_CASE: {},
    Trigger.MERGE: {"reason": "同一地点同一诉求"},  # "into" filled in with another case
    Trigger.CANCEL: {"reason": "重复来电"},
    Trigger.APPEAL: {"reason": "居民诉求超出职责", "kind": AppealKind.RATING},
    Trigger.UPHOLD_APPEAL: {},
    Trigger.REJECT_APPEAL: {},
    Trigger.ACCEPT: {},
    Trigger.OBJECT: {"reason": "不属于本部门职责"},
    Trigger.UPHOLD_OBJECTION: {"reason": "确不属于该部门职责"},
    Trigger.REJECT_OBJECTION: {"reason": "属于该部门职责"},
    Trigger.REPORT_IN: {},
    Trigger.PROGRESS: {"note": "已联系居民"},
    Trigger.COMPLETE: {"result": "已处理完毕", "service_hours": 2.0},
    # The departments named here are stand-ins: a test that moves the case names real ones.
    Trigger.REASSIGN: {"reason": "原派单部门不对口", "lead": 0},
    Trigger.ADD_ASSISTING: {"assisting": [0]},
    Trigger.MANUAL_REMIND: {"reason": "居民再次来电催促"},
    Trigger.MANUAL_SUPERVISE: {"reason": "久拖未办，列入督办"},
}


DECISIONS = (Trigger.UPHOLD_OBJECTION, Trigger.REJECT_OBJECTION, Trigger.DENY_EXTENSION,
             Trigger.MERGE)  # fmt: skip


def with_reason(trigger: Trigger, payload: dict[str, Any] | None) -> dict[str, Any]:
    """The payload, with the valid reason of a decision that requires one when it has none."""
    given = dict(payload or {})
    if trigger in DECISIONS and "reason" not in given:
        given["reason"] = VALID_PAYLOADS[trigger]["reason"]
    return given


def fire(
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    case_id: int,
    trigger: Trigger,
    who: str,
    payload: dict[str, Any] | None = None,
    *,
    version: int | None = None,
    step: timedelta = STEP,
) -> Case:
    """Fire a case trigger as the named account, ``step`` after the last move (a decision that
    needs a reason gets one unless the payload gives its own)."""
    return transition_case(
        session=session, rt=rt, actor=city.actor(session, who), case_id=case_id, trigger=trigger,
        payload=with_reason(trigger, payload), version=version, now=clock.advance(step),
    )  # fmt: skip


def fire_on(
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    assignment_id: int,
    trigger: Trigger,
    who: str,
    payload: dict[str, Any] | None = None,
    *,
    version: int | None = None,
    step: timedelta = STEP,
) -> Assignment:
    """Fire an assignment trigger as the named account, ``step`` after the last move."""
    return transition_assignment(
        session=session, rt=rt, actor=city.actor(session, who), assignment_id=assignment_id,
        trigger=trigger, payload=with_reason(trigger, payload), version=version,
        now=clock.advance(step),
    )  # fmt: skip


def raise_community_whistle(
    session: Session, rt: Runtime, city: City, clock: ManualClock, *, community: int = 0
) -> Case:
    """A grid worker publishes a demand of its community."""
    return raise_case(
        session=session, rt=rt, actor=city.actor(session, "grid_c1"),
        draft=CaseDraft(workflow="community_whistle", area_id=city.grids[community].id,
                        title="楼道堆物清理", description="3号楼楼道堆物需要清理"),
        now=clock.now(),
    )  # fmt: skip


def drive_community_whistle(
    session: Session, rt: Runtime, city: City, clock: ManualClock, state: CaseState
) -> Case:
    """A community whistle on the main line: dispatched to the unit (assigned) or claimed by it."""
    case = raise_community_whistle(session, rt, city, clock)
    if state == CaseState.ASSIGNED:
        fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", {"lead": city.unit.id})
    elif state != CaseState.REPORTED:
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    if state in (CaseState.RESOLVED, CaseState.RATED):
        (lead,) = assignments_of(session, case.id)
        fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "unit")
        done = {"result": "已清理楼道堆物", "service_hours": 3.5}
        fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "unit", done)
    if state == CaseState.RATED:
        rating = {"solved": True, "rating": Rating.SATISFIED}
        fire(session, rt, city, clock, case.id, Trigger.RATE, "grid_c1", rating)
    return reload(session, case.id)


def main_line_case(
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    workflow: str,
    state: CaseState,
) -> Case:
    """A case of any built-in workflow driven to a main-line state."""
    if workflow == "community_whistle":
        return drive_community_whistle(session, rt, city, clock, state)
    return make_case(
        session, rt, city, clock, workflow=workflow, state=state, raiser=RAISER[workflow]
    )


def lead_and_assisting(session: Session, case_id: int) -> tuple[Assignment, Assignment]:
    """The lead and the one assisting assignment of a case (fails if there are others)."""
    lead, helper = assignments_of(session, case_id)
    assert lead.role == AssignmentRole.LEAD
    assert helper.role == AssignmentRole.ASSISTING
    return lead, helper


def deadline(
    session: Session, case_id: int, clock_name: str, assignment_id: int | None = None
) -> list[Deadline]:
    """The deadline rows of one clock of a case (or of one assignment), oldest first."""
    stmt = (
        select(Deadline)
        .where(
            Deadline.case_id == case_id,
            Deadline.clock == clock_name,
            Deadline.assignment_id.is_(None)
            if assignment_id is None
            else Deadline.assignment_id == assignment_id,
        )
        .order_by(Deadline.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def open_clocks(session: Session, case_id: int) -> list[tuple[str, int | None]]:
    """(clock, assignment id) of every running clock of a case."""
    stmt = select(Deadline.clock, Deadline.assignment_id).where(
        Deadline.case_id == case_id, Deadline.state == DeadlineState.OPEN
    )
    return sorted(((c, a) for c, a in session.execute(stmt)), key=lambda r: (r[0], r[1] or 0))


def event_triggers(session: Session, case_id: int) -> list[str]:
    """The triggers of a case's events in order."""
    stmt = select(Event.trigger).where(Event.case_id == case_id).order_by(Event.seq)
    return list(session.scalars(stmt))


def _rows(session: Session, model: type[Any], *where: Any) -> list[dict[str, Any]]:
    table = model.__table__
    stmt = select(table).where(*where).order_by(table.c.id)
    return [dict(row) for row in session.execute(stmt).mappings()]


def snapshot(session: Session, case_id: int) -> dict[str, Any]:
    """Everything stored about a case, read from the database (not the identity map)."""
    return {
        "case": _rows(session, Case, Case.__table__.c.id == case_id),
        "assignments": _rows(session, Assignment, Assignment.__table__.c.case_id == case_id),
        "deadlines": _rows(session, Deadline, Deadline.__table__.c.case_id == case_id),
        "requests": _rows(session, CaseRequest, CaseRequest.__table__.c.case_id == case_id),
        "events": session.scalar(select(func.count()).where(Event.case_id == case_id)),
        "all_events": session.scalar(select(func.count()).select_from(Event)),
    }
