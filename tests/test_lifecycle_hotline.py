"""One hotline case from intake to rating through the services, with every clock checked by hand.

Times are Beijing time from Monday 2 March 2026 09:00, a working week without holidays, so a
limit of 7 working days from Monday 09:10 falls on Wednesday 11 March 09:10 (DESIGN §3,
workflows/hotline.yaml). A reminder falls at 80 % of the span between start and due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.case.service import CaseDraft, raise_case
from engine.event.models import Event
from engine.event.service import verify_chains
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    DeadlineState,
    Priority,
    Rating,
    Role,
    Trigger,
)
from tests.builders import assignments_of, make_case, reload
from tests.scenario import deadline, event_triggers, fire, fire_on, lead_and_assisting, open_clocks

BJ = ZoneInfo("Asia/Shanghai")


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2026, Beijing time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=BJ)


def test_hotline__full_case_runs_and_closes_every_clock_as_designed(session, rt, city, clock):
    # 09:00 a resident calls in.
    case = raise_case(
        session=session, rt=rt, actor=city.actor(session, "resident"),
        draft=CaseDraft(title="路灯不亮", area_id=city.grids[0].id), now=clock.now(),
    )  # fmt: skip
    assert case.state == CaseState.REPORTED
    (dispatch,) = deadline(session, case.id, "dispatch")
    assert (dispatch.state, dispatch.started_at, dispatch.due_at) == (
        DeadlineState.OPEN, bj(2, 9), bj(2, 11)
    )  # fmt: skip
    # 80 % of 2 hours is 96 minutes.
    assert (dispatch.next_step, dispatch.next_fire_at) == (Trigger.REMIND, bj(2, 10, 36))
    assert open_clocks(session, case.id) == [("dispatch", None)]

    # 09:10 the street command centre dispatches to a lead and one assisting department.
    lead_dept, help_dept = city.departments[0], city.departments[1]
    payload = {"lead": lead_dept.id, "assisting": [help_dept.id]}
    case = fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", payload)
    assert case.state == CaseState.ASSIGNED
    assert case.dispatched_at == bj(2, 9, 10)
    lead, helper = lead_and_assisting(session, case.id)
    assert (lead.org_id, helper.org_id) == (lead_dept.id, help_dept.id)
    (dispatch,) = deadline(session, case.id, "dispatch")
    assert (dispatch.state, dispatch.closed_at, dispatch.next_fire_at) == (
        DeadlineState.MET, bj(2, 9, 10), None
    )  # fmt: skip
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.state, resolve.limit, resolve.started_at, resolve.due_at) == (
        DeadlineState.OPEN, "7wd", bj(2, 9, 10), bj(11, 9, 10)
    )  # fmt: skip
    # 80 % of the working time from start to due: 168 working hours (Mon 14 h 50 min, four whole
    # days, Mon 9 and Tue 10, Wed 9 h 10 min) × 0.8 = 134.4 h, which runs out late on Monday 9
    # March (the weekend of 7-8 March does not count): 23:34.
    assert (resolve.next_step, resolve.next_fire_at) == (Trigger.REMIND, bj(9, 23, 34))
    for a in (lead, helper):
        (accept,) = deadline(session, case.id, "accept", a.id)
        assert (accept.started_at, accept.due_at, accept.next_fire_at) == (
            bj(2, 9, 10), bj(2, 11, 10), bj(2, 10, 46)
        )  # fmt: skip
        (report_in,) = deadline(session, case.id, "report_in", a.id)
        assert (report_in.started_at, report_in.due_at, report_in.next_fire_at) == (
            bj(2, 9, 10), bj(3, 9, 10), bj(3, 4, 22)
        )  # fmt: skip

    # 09:20 the lead accepts: the case starts work; the resolve clock does not restart.
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    (accept,) = deadline(session, case.id, "accept", lead.id)
    assert (accept.state, accept.closed_at) == (DeadlineState.MET, bj(2, 9, 20))
    assert deadline(session, case.id, "resolve") == [resolve]
    assert (resolve.state, resolve.started_at, resolve.due_at) == (
        DeadlineState.OPEN, bj(2, 9, 10), bj(11, 9, 10)
    )  # fmt: skip

    # 09:30 the assisting department accepts; 09:40 the lead reports in on site.
    fire_on(session, rt, city, clock, helper.id, Trigger.ACCEPT, "dept_water")
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    (report_in,) = deadline(session, case.id, "report_in", lead.id)
    assert (report_in.state, report_in.closed_at) == (DeadlineState.MET, bj(2, 9, 40))

    # 09:50-10:00 the assisting department reports in and is done; the case waits for the lead.
    fire_on(session, rt, city, clock, helper.id, Trigger.REPORT_IN, "dept_water")
    fire_on(
        session, rt, city, clock, helper.id, Trigger.COMPLETE, "dept_water", {"result": "已配合"}
    )
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    for name in ("accept", "report_in"):
        (row,) = deadline(session, case.id, name, helper.id)
        assert row.state == DeadlineState.MET

    # 10:10 the lead completes: the case resolves and the rating window opens for 3 working days.
    result = {"result": "已更换灯泡", "evidence": ["photo:1"]}
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", result)
    case = reload(session, case.id)
    assert (case.state, case.resolved_at) == (CaseState.RESOLVED, bj(2, 10, 10))
    assert (resolve.state, resolve.closed_at) == (DeadlineState.MET, bj(2, 10, 10))
    (rating,) = deadline(session, case.id, "rating")
    assert (rating.state, rating.started_at, rating.due_at) == (
        DeadlineState.OPEN, bj(2, 10, 10), bj(5, 10, 10)
    )  # fmt: skip
    assert (rating.next_step, rating.next_fire_at) == (Trigger.CLOSE, bj(5, 10, 10))
    assert open_clocks(session, case.id) == [("rating", None)]

    # 10:20 the resident rates it.
    rate = {"solved": True, "rating": Rating.SATISFIED, "comment": "很快"}
    case = fire(session, rt, city, clock, case.id, Trigger.RATE, "resident", rate)
    assert (case.state, case.rating, case.solved, case.rated_at) == (
        CaseState.RATED, Rating.SATISFIED, True, bj(2, 10, 20)
    )  # fmt: skip
    assert (rating.state, rating.closed_at) == (DeadlineState.MET, bj(2, 10, 20))
    assert open_clocks(session, case.id) == []
    assert [a.state for a in assignments_of(session, case.id)] == [AssignmentState.DONE] * 2

    assert event_triggers(session, case.id) == [
        Trigger.RAISE,
        Trigger.DISPATCH,
        Trigger.ACCEPT,
        Trigger.LEAD_ACCEPTED,
        Trigger.ACCEPT,
        Trigger.REPORT_IN,
        Trigger.REPORT_IN,
        Trigger.COMPLETE,
        Trigger.COMPLETE,
        Trigger.RESOLVE,
        Trigger.RATE,
    ]
    assert list(verify_chains(session)) == []
    assert case.event_count == 11


def test_hotline__consequences_are_recorded_as_system_events(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    rows = session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq))
    by_trigger = {e.trigger: e for e in rows}
    for trigger in (Trigger.LEAD_ACCEPTED, Trigger.RESOLVE):
        assert by_trigger[trigger].actor_role == Role.SYSTEM
        assert by_trigger[trigger].actor_id is None
    assert by_trigger[Trigger.RESOLVE].from_state == CaseState.REPORTING_IN
    assert by_trigger[Trigger.RESOLVE].to_state == CaseState.RESOLVED


def test_accept__after_the_limit_closes_the_accept_clock_as_late(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)  # dispatched 09:10
    lead, helper = lead_and_assisting(session, case.id)
    late_by = timedelta(hours=2, minutes=10)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um", step=late_by)
    (late,) = deadline(session, case.id, "accept", lead.id)
    assert (late.state, late.due_at, late.closed_at) == (
        DeadlineState.LATE, bj(2, 11, 10), bj(2, 11, 20)
    )  # fmt: skip
    (waiting,) = deadline(session, case.id, "accept", helper.id)
    assert waiting.state == DeadlineState.OPEN


def test_accept__exactly_at_the_due_moment_is_on_time(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)  # dispatched 09:10
    lead, _ = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um", step=timedelta(hours=2))
    (accept,) = deadline(session, case.id, "accept", lead.id)
    assert (accept.state, accept.closed_at) == (DeadlineState.MET, accept.due_at)


def test_dispatch__of_an_urgent_case_runs_the_urgent_limits(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, priority=Priority.URGENT)
    (dispatch,) = deadline(session, case.id, "dispatch")
    assert dispatch.due_at - dispatch.started_at == timedelta(minutes=15)
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.limit, resolve.due_at - resolve.started_at) == ("24h", timedelta(hours=24))
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)
    (accept,) = deadline(session, case.id, "accept", lead.id)
    assert accept.due_at - accept.started_at == timedelta(minutes=30)
