"""The side roads of a case: redo (重办) once, merge duplicates (并单), cancel (作废), appeals
(申诉) and hard cases (挂账). Each refusal changes nothing."""

from __future__ import annotations

import pytest

from engine.errors import Forbidden, GuardFailed, InvalidInput
from engine.event.service import verify_chains
from engine.vocabulary import (
    AppealKind,
    AssignmentState,
    CaseState,
    DeadlineState,
    Rating,
    RequestStatus,
    Trigger,
)
from tests.builders import assignments_of, make_case, reload
from tests.scenario import deadline, fire, fire_on, lead_and_assisting, open_clocks, snapshot

DISSATISFIED = {"solved": False, "rating": Rating.DISSATISFIED, "comment": "灯还是不亮"}
REDO = {"reason": "居民反映问题未解决"}


def _rate_dissatisfied(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident", DISSATISFIED)
    return case


# -- redo ------------------------------------------------------------------------------------


def test_redo__after_a_dissatisfied_rating_reopens_the_lead_with_a_fresh_resolve_clock(
    session, rt, city, clock
):
    case = _rate_dissatisfied(session, rt, city, clock)
    lead, helper = lead_and_assisting(session, case.id)
    case = fire(session, rt, city, clock, case.id, Trigger.REDO, "resident", REDO)
    redone_at = clock.now()
    assert (case.state, case.redo_count) == (CaseState.REPORTING_IN, 1)
    assert (case.rating, case.solved, case.rated_at, case.resolved_at) == (None, None, None, None)
    lead, helper = lead_and_assisting(session, case.id)
    assert (lead.state, lead.done_at) == (AssignmentState.ON_SITE, None)
    assert helper.state == AssignmentState.DONE
    first, fresh = deadline(session, case.id, "resolve")
    assert first.state == DeadlineState.MET
    assert (fresh.state, fresh.started_at, fresh.limit) == (DeadlineState.OPEN, redone_at, "7wd")
    assert open_clocks(session, case.id) == [("resolve", None)]


def test_redo__a_second_time_fails_and_changes_nothing(session, rt, city, clock):
    case = _rate_dissatisfied(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.REDO, "resident", REDO)
    lead, _ = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "再次维修"})
    assert reload(session, case.id).state == CaseState.RESOLVED
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident", DISSATISFIED)
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="dissatisfied_without_redo"):
        fire(session, rt, city, clock, case.id, Trigger.REDO, "resident", REDO)
    assert snapshot(session, case.id) == before
    assert reload(session, case.id).redo_count == 1


def test_redo__after_a_satisfied_rating_fails_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.RATED)
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="dissatisfied_without_redo"):
        fire(session, rt, city, clock, case.id, Trigger.REDO, "resident", REDO)
    assert snapshot(session, case.id) == before


# -- merge -----------------------------------------------------------------------------------


def test_merge__into_another_case_withdraws_open_assignments_and_cancels_clocks(
    session, rt, city, clock
):
    original = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    duplicate = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    case = fire(
        session, rt, city, clock, duplicate.id, Trigger.MERGE, "cc_s1", {"into": original.id}
    )
    merged_at = clock.now()
    assert (case.state, case.merged_into_id, case.closed_at) == (
        CaseState.MERGED, original.id, merged_at
    )  # fmt: skip
    assert [(a.state, a.withdrawn_at) for a in assignments_of(session, case.id)] == [
        (AssignmentState.WITHDRAWN, merged_at)
    ] * 2
    assert open_clocks(session, case.id) == []
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.state, resolve.closed_at) == (DeadlineState.CANCELLED, merged_at)
    assert reload(session, original.id).state == CaseState.REPORTED
    assert list(verify_chains(session)) == []


def test_merge__into_itself_is_invalid_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match="into itself"):
        fire(session, rt, city, clock, case.id, Trigger.MERGE, "cc_s1", {"into": case.id})
    assert snapshot(session, case.id) == before


@pytest.mark.parametrize("ended", [CaseState.CANCELLED, CaseState.MERGED])
def test_merge__into_an_ended_case_is_invalid_and_changes_nothing(session, rt, city, clock, ended):
    target = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    if ended == CaseState.CANCELLED:
        fire(session, rt, city, clock, target.id, Trigger.CANCEL, "cc_s1", {"reason": "无效来电"})
    else:
        third = make_case(session, rt, city, clock, state=CaseState.REPORTED)
        fire(session, rt, city, clock, target.id, Trigger.MERGE, "cc_s1", {"into": third.id})
    assert reload(session, target.id).state == ended
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=f"case {target.id} is '{ended}'"):
        fire(session, rt, city, clock, case.id, Trigger.MERGE, "cc_s1", {"into": target.id})
    assert snapshot(session, case.id) == before


def test_merge__into_a_missing_case_is_invalid_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match="case 9999 not found"):
        fire(session, rt, city, clock, case.id, Trigger.MERGE, "cc_s1", {"into": 9999})
    assert snapshot(session, case.id) == before


def test_merge__into_a_case_the_actor_cannot_see_is_invalid_and_changes_nothing(
    session, rt, city, clock
):
    elsewhere = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=f"case {elsewhere.id} not found"):
        fire(session, rt, city, clock, case.id, Trigger.MERGE, "cc_s1", {"into": elsewhere.id})
    assert snapshot(session, case.id) == before


# -- cancel ----------------------------------------------------------------------------------


def test_cancel__withdraws_assignments_cancels_clocks_and_keeps_the_reason(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    case = fire(
        session, rt, city, clock, case.id, Trigger.CANCEL, "cc_s1", {"reason": "非有效诉求"}
    )
    cancelled_at = clock.now()
    assert (case.state, case.cancel_reason, case.closed_at) == (
        CaseState.CANCELLED, "非有效诉求", cancelled_at
    )  # fmt: skip
    assert {a.state for a in assignments_of(session, case.id)} == {AssignmentState.WITHDRAWN}
    assert open_clocks(session, case.id) == []
    rows = snapshot(session, case.id)["deadlines"]
    closed = {(r["clock"], r["state"]) for r in rows if r["closed_at"] == cancelled_at}
    assert closed == {
        ("resolve", DeadlineState.CANCELLED),
        ("accept", DeadlineState.CANCELLED),
        ("report_in", DeadlineState.CANCELLED),
    }


def test_cancel__without_a_reason_is_invalid_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match="reason"):
        fire(session, rt, city, clock, case.id, Trigger.CANCEL, "cc_s1", {})
    assert snapshot(session, case.id) == before


# -- appeal ----------------------------------------------------------------------------------

APPEAL = {"reason": "居民诉求超出本部门职责", "kind": AppealKind.RATING}


@pytest.mark.parametrize("decider", ["cc_district", "admin"])
def test_uphold_appeal__by_the_district_or_an_admin_excludes_the_case(
    session, rt, city, clock, decider
):
    case = _rate_dissatisfied(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    case = fire(session, rt, city, clock, case.id, Trigger.UPHOLD_APPEAL, decider)
    assert (case.state, case.excluded, case.exclusion_reason) == (
        CaseState.RATED, True, AppealKind.RATING
    )  # fmt: skip
    (request,) = snapshot(session, case.id)["requests"]
    assert (request["status"], request["decided_by_id"]) == (
        RequestStatus.APPROVED, city.accounts[decider].id
    )  # fmt: skip


def test_uphold_appeal__by_a_street_command_centre_is_forbidden_and_changes_nothing(
    session, rt, city, clock
):
    case = _rate_dissatisfied(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    before = snapshot(session, case.id)
    for decision in (Trigger.UPHOLD_APPEAL, Trigger.REJECT_APPEAL):
        with pytest.raises(Forbidden, match="district command centre"):
            fire(session, rt, city, clock, case.id, decision, "cc_s1")
    assert snapshot(session, case.id) == before


def test_reject_appeal__keeps_the_case_counted(session, rt, city, clock):
    case = _rate_dissatisfied(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    case = fire(session, rt, city, clock, case.id, Trigger.REJECT_APPEAL, "cc_district")
    assert (case.state, case.excluded, case.exclusion_reason) == (CaseState.RATED, False, None)
    (request,) = snapshot(session, case.id)["requests"]
    assert request["status"] == RequestStatus.DENIED


def test_appeal__a_second_one_while_pending_fails_and_after_upholding_none_is_taken(
    session, rt, city, clock
):
    case = _rate_dissatisfied(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="no_appeal_pending"):
        fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    assert snapshot(session, case.id) == before
    fire(session, rt, city, clock, case.id, Trigger.UPHOLD_APPEAL, "cc_district")
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="no_appeal_pending"):
        fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um", APPEAL)
    assert snapshot(session, case.id) == before


# -- hard case -------------------------------------------------------------------------------


def test_approve_hard_case__parks_the_case_and_stops_its_resolve_clock(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    reason = {"reason": "涉及历史遗留产权纠纷"}
    case = fire(session, rt, city, clock, case.id, Trigger.REQUEST_HARD_CASE, "dept_um", reason)
    assert case.state == CaseState.REPORTING_IN
    case = fire(session, rt, city, clock, case.id, Trigger.APPROVE_HARD_CASE, "cc_s1")
    assert case.state == CaseState.HARD_CASE
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.state, resolve.closed_at) == (DeadlineState.CANCELLED, clock.now())
    (request,) = snapshot(session, case.id)["requests"]
    assert request["status"] == RequestStatus.APPROVED


def test_deny_hard_case__leaves_the_case_in_work(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    reason = {"reason": "涉及历史遗留产权纠纷"}
    fire(session, rt, city, clock, case.id, Trigger.REQUEST_HARD_CASE, "dept_um", reason)
    case = fire(session, rt, city, clock, case.id, Trigger.DENY_HARD_CASE, "cc_s1")
    assert case.state == CaseState.REPORTING_IN
    (resolve,) = deadline(session, case.id, "resolve")
    assert resolve.state == DeadlineState.OPEN
    (request,) = snapshot(session, case.id)["requests"]
    assert request["status"] == RequestStatus.DENIED


# -- verify ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [CaseState.RESOLVED, CaseState.RATED])
def test_verify__records_the_finding_and_leaves_the_case_where_it_is(
    session, rt, city, clock, state
):
    case = make_case(session, rt, city, clock, state=state)
    case = fire(session, rt, city, clock, case.id, Trigger.VERIFY, "cc_s1", {"solved": False})
    assert (case.state, case.verified_solved) == (state, False)
