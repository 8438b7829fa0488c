"""Dispatch objections (退单) and extensions (延期), with the clocks they touch (DESIGN §3).

An upheld objection withdraws the department and gives the next one a fresh clock; a rejected one
returns everything to exactly where it was, its clocks never stopped. An approved extension moves
the resolve-by time and is counted; a denied one moves nothing.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.errors import GuardFailed
from engine.vocabulary import (
    AssignmentState,
    CaseState,
    DeadlineState,
    RequestKind,
    RequestStatus,
    Trigger,
)
from tests.builders import assignments_of, make_case, reload
from tests.scenario import (
    deadline,
    fire,
    fire_on,
    lead_and_assisting,
    open_clocks,
    snapshot,
)

BJ = ZoneInfo("Asia/Shanghai")
OBJECTION = {"reason": "该路段不属于本部门管辖"}


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BJ)


# -- objections ------------------------------------------------------------------------------


def test_object__by_the_lead_returns_the_case_and_starts_the_review_clock(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _helper = lead_and_assisting(session, case.id)
    lead = fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", OBJECTION)
    assert (lead.state, lead.objected_from, lead.objection_reason) == (
        AssignmentState.OBJECTED, AssignmentState.ASSIGNED, OBJECTION["reason"]
    )  # fmt: skip
    assert reload(session, case.id).state == CaseState.RETURNED
    (review,) = deadline(session, case.id, "objection_review", lead.id)
    assert (review.state, review.started_at, review.limit) == (
        DeadlineState.OPEN, clock.now(), "1wd"
    )  # fmt: skip
    # The resolve clock runs on while the objection is reviewed.
    (resolve,) = deadline(session, case.id, "resolve")
    assert resolve.state == DeadlineState.OPEN


def test_uphold_objection__of_the_lead_withdraws_it_and_restarts_dispatch(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", OBJECTION)
    lead = fire_on(session, rt, city, clock, lead.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    upheld_at = clock.now()
    case = reload(session, case.id)
    assert case.state == CaseState.REPORTED
    assert [(a.state, a.withdrawn_at) for a in assignments_of(session, case.id)] == [
        (AssignmentState.WITHDRAWN, upheld_at),
        (AssignmentState.WITHDRAWN, upheld_at),
    ]
    first, fresh = deadline(session, case.id, "dispatch")
    assert first.state == DeadlineState.MET
    assert (fresh.state, fresh.started_at, fresh.due_at) == (
        DeadlineState.OPEN, upheld_at, bj(2, 11, 30)
    )  # fmt: skip
    (old_resolve,) = deadline(session, case.id, "resolve")
    assert (old_resolve.state, old_resolve.closed_at) == (DeadlineState.CANCELLED, upheld_at)
    (review,) = deadline(session, case.id, "objection_review", lead.id)
    assert (review.state, review.closed_at) == (DeadlineState.MET, upheld_at)
    assert open_clocks(session, case.id) == [("dispatch", None)]

    # Redispatched to another department, which gets a clock of its own from now.
    housing = city.departments[2]
    fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", {"lead": housing.id})
    redispatched_at = clock.now()
    assert reload(session, case.id).state == CaseState.ASSIGNED
    new_lead = max(assignments_of(session, case.id), key=lambda a: a.id)
    assert (new_lead.org_id, new_lead.state) == (housing.id, AssignmentState.ASSIGNED)
    old, new = deadline(session, case.id, "resolve")
    assert old.id == old_resolve.id
    assert (new.state, new.started_at, new.due_at) == (
        DeadlineState.OPEN, redispatched_at, bj(11, 9, 40)
    )  # fmt: skip
    (accept,) = deadline(session, case.id, "accept", new_lead.id)
    assert accept.started_at == redispatched_at


def test_reject_objection__from_assigned_returns_exactly_there_and_the_accept_clock_never_stopped(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    (accept,) = deadline(session, case.id, "accept", lead.id)
    (resolve,) = deadline(session, case.id, "resolve")
    accept_due, resolve_due = accept.due_at, resolve.due_at
    fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", OBJECTION)
    lead = fire_on(session, rt, city, clock, lead.id, Trigger.REJECT_OBJECTION, "cc_s1")
    assert (lead.state, lead.objected_from) == (AssignmentState.ASSIGNED, None)
    assert reload(session, case.id).state == CaseState.ASSIGNED
    assert deadline(session, case.id, "accept", lead.id) == [accept]
    assert (accept.state, accept.due_at, accept.closed_at) == (DeadlineState.OPEN, accept_due, None)
    assert deadline(session, case.id, "resolve") == [resolve]
    assert (resolve.state, resolve.due_at) == (DeadlineState.OPEN, resolve_due)
    (review,) = deadline(session, case.id, "objection_review", lead.id)
    assert review.state == DeadlineState.MET


def test_reject_objection__from_accepted_returns_exactly_there_and_report_in_clock_never_stopped(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, _ = lead_and_assisting(session, case.id)
    (accept,) = deadline(session, case.id, "accept", lead.id)
    (report_in,) = deadline(session, case.id, "report_in", lead.id)
    report_due = report_in.due_at
    fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", OBJECTION)
    assert reload(session, case.id).state == CaseState.RETURNED
    lead = fire_on(session, rt, city, clock, lead.id, Trigger.REJECT_OBJECTION, "cc_s1")
    assert (lead.state, lead.objected_from) == (AssignmentState.ACCEPTED, None)
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    assert deadline(session, case.id, "report_in", lead.id) == [report_in]
    assert (report_in.state, report_in.due_at) == (DeadlineState.OPEN, report_due)
    # Met at the first acceptance and not reopened by the objection.
    assert deadline(session, case.id, "accept", lead.id) == [accept]
    assert accept.state == DeadlineState.MET


def test_uphold_objection__of_an_assisting_department_leaves_the_case_where_it_is(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, helper.id, Trigger.OBJECT, "dept_water", OBJECTION)
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    helper = fire_on(session, rt, city, clock, helper.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    assert helper.state == AssignmentState.WITHDRAWN
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    lead = assignments_of(session, case.id)[0]
    assert lead.state == AssignmentState.ACCEPTED
    assert ("dispatch", None) not in open_clocks(session, case.id)


def test_uphold_objection__of_the_last_unsettled_assisting_department_resolves_the_case(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, helper.id, Trigger.OBJECT, "dept_water", OBJECTION)
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已修复"})
    # The lead is done, but the assisting department's objection is still open.
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    fire_on(session, rt, city, clock, helper.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    case = reload(session, case.id)
    assert (case.state, case.resolved_at) == (CaseState.RESOLVED, clock.now())
    (resolve,) = deadline(session, case.id, "resolve")
    assert resolve.state == DeadlineState.MET


# -- extensions ------------------------------------------------------------------------------

EXTENSION = {"reason": "需协调产权单位", "extend_by": "3wd"}


def _pending(session, case_id: int):
    return [
        r for r in snapshot(session, case_id)["requests"] if r["status"] == RequestStatus.PENDING
    ]


def test_approve_extension__moves_resolve_due_by_the_granted_time_and_counts_it(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)  # dispatched 09:10
    (resolve,) = deadline(session, case.id, "resolve")
    assert resolve.due_at == bj(11, 9, 10)
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    (request,) = _pending(session, case.id)
    assert (request["kind"], request["payload"]["extend_by"]) == (RequestKind.EXTENSION, "3wd")
    assert resolve.due_at == bj(11, 9, 10)  # nothing moves until it is approved
    case = fire(session, rt, city, clock, case.id, Trigger.APPROVE_EXTENSION, "cc_s1")
    assert (case.state, case.extension_count) == (CaseState.REPORTING_IN, 1)
    (resolve,) = deadline(session, case.id, "resolve")
    # Three working days after Wednesday 11 March: Thursday, Friday, Monday.
    assert (resolve.state, resolve.due_at, resolve.extension_count) == (
        DeadlineState.OPEN, bj(16, 9, 10), 1
    )  # fmt: skip
    # The reminder is planned anew: 80 % of the 240 working hours from start to the new due time
    # is 192 h, reached on Thursday 12 March at 09:10.
    assert resolve.next_fire_at == bj(12, 9, 10)
    (decided,) = snapshot(session, case.id)["requests"]
    assert decided["status"] == RequestStatus.APPROVED
    assert decided["decided_by_id"] == city.accounts["cc_s1"].id


def test_approve_extension__may_grant_another_duration_than_asked(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    fire(
        session, rt, city, clock, case.id, Trigger.APPROVE_EXTENSION, "cc_s1", {"extend_by": "1wd"}
    )
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.due_at, resolve.extension_count) == (bj(12, 9, 10), 1)


def test_deny_extension__moves_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    (resolve,) = deadline(session, case.id, "resolve")
    due, fire_at = resolve.due_at, resolve.next_fire_at
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    case = fire(session, rt, city, clock, case.id, Trigger.DENY_EXTENSION, "cc_s1")
    assert (case.state, case.extension_count) == (CaseState.REPORTING_IN, 0)
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.due_at, resolve.next_fire_at, resolve.extension_count) == (due, fire_at, 0)
    (decided,) = snapshot(session, case.id)["requests"]
    assert decided["status"] == RequestStatus.DENIED


def test_request_extension__while_one_is_pending_fails_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="no_extension_pending"):
        fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
    assert snapshot(session, case.id) == before


def test_request_extension__after_a_decision_may_be_made_again_and_counts_twice(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    for _ in range(2):
        fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um", EXTENSION)
        fire(session, rt, city, clock, case.id, Trigger.APPROVE_EXTENSION, "cc_s1")
    assert reload(session, case.id).extension_count == 2
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.due_at, resolve.extension_count) == (bj(19, 9, 10), 2)


@pytest.mark.parametrize("decision", [Trigger.APPROVE_EXTENSION, Trigger.DENY_EXTENSION])
def test_extension_decision__with_nothing_pending_fails_and_changes_nothing(
    session, rt, city, clock, decision
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="extension_pending"):
        fire(session, rt, city, clock, case.id, decision, "cc_s1")
    assert snapshot(session, case.id) == before
