"""社区吹哨·共建单位报到: a grid worker publishes a demand; a co-building unit registered with the
community (双报到) claims it — becoming the lead and accepting in one move — does it, and records
its service hours."""

from __future__ import annotations

import pytest

from engine.errors import Forbidden, InvalidInput, OutOfScope
from engine.event.service import verify_chains
from engine.organisation import service as org
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    DeadlineState,
    OrgKind,
    Rating,
    Role,
    Trigger,
)
from tests.builders import assignments_of, reload
from tests.scenario import (
    deadline,
    event_triggers,
    fire,
    fire_on,
    open_clocks,
    raise_community_whistle,
    snapshot,
)


def test_raise__by_a_grid_worker_opens_the_claim_clock(session, rt, city, clock):
    case = raise_community_whistle(session, rt, city, clock)
    assert (case.workflow, case.state, case.community_id) == (
        "community_whistle", CaseState.REPORTED, city.communities[0].id
    )  # fmt: skip
    (dispatch,) = deadline(session, case.id, "dispatch")
    assert (dispatch.state, dispatch.limit) == (DeadlineState.OPEN, "3wd")


def test_claim__by_a_registered_unit_makes_it_the_accepted_lead_and_starts_work(
    session, rt, city, clock
):
    case = raise_community_whistle(session, rt, city, clock)
    case = fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    claimed_at = clock.now()
    assert (case.state, case.dispatched_at) == (CaseState.REPORTING_IN, claimed_at)
    (lead,) = assignments_of(session, case.id)
    assert (lead.org_id, lead.role, lead.state, lead.accepted_at) == (
        city.unit.id, AssignmentRole.LEAD, AssignmentState.ACCEPTED, claimed_at
    )  # fmt: skip
    assert event_triggers(session, case.id) == [
        Trigger.RAISE,
        Trigger.CLAIM,
        Trigger.ACCEPT,
        Trigger.LEAD_ACCEPTED,
    ]
    # The claim is the dispatch: the claim clock is met, and the unit's own clocks start now.
    (dispatch,) = deadline(session, case.id, "dispatch")
    assert (dispatch.state, dispatch.closed_at) == (DeadlineState.MET, claimed_at)
    (resolve,) = deadline(session, case.id, "resolve")
    assert (resolve.state, resolve.started_at, resolve.limit) == (
        DeadlineState.OPEN, claimed_at, "10wd"
    )  # fmt: skip
    (accept,) = deadline(session, case.id, "accept", lead.id)
    assert (accept.state, accept.started_at, accept.closed_at) == (
        DeadlineState.MET, claimed_at, claimed_at
    )  # fmt: skip
    (report_in,) = deadline(session, case.id, "report_in", lead.id)
    assert (report_in.state, report_in.started_at, report_in.limit) == (
        DeadlineState.OPEN, claimed_at, "2wd"
    )  # fmt: skip
    assert list(verify_chains(session)) == []


def test_claim__by_a_unit_not_registered_with_the_community_is_forbidden_and_changes_nothing(
    session, rt, city, clock
):
    stranger = org.create_node(
        session, kind=OrgKind.UNIT, code="U2", name_zh="某驻区单位", name_en="Other unit",
        parent=city.district,
    )  # fmt: skip
    org.register_unit(session, unit=stranger, community=city.communities[1], now=clock.now())
    account = org.create_account(
        session, username="unit2", role=Role.UNIT, scope=stranger, now=clock.now()
    )
    session.commit()
    city.accounts["unit2"] = account
    case = raise_community_whistle(session, rt, city, clock, community=0)
    before = snapshot(session, case.id)
    with pytest.raises(Forbidden, match="not in a community this unit is registered with"):
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit2")
    assert snapshot(session, case.id) == before


def test_claim__of_a_case_already_claimed_is_illegal_and_changes_nothing(session, rt, city, clock):
    from engine.errors import IllegalTransition

    case = raise_community_whistle(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    before = snapshot(session, case.id)
    with pytest.raises(IllegalTransition, match="'claim' is allowed from"):
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    assert snapshot(session, case.id) == before


def test_claim__by_a_department_is_forbidden_and_changes_nothing(session, rt, city, clock):
    case = raise_community_whistle(session, rt, city, clock)
    before = snapshot(session, case.id)
    with pytest.raises(OutOfScope):
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "dept_um")
    with pytest.raises(Forbidden, match="may not fire 'claim'"):
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "cc_s1")
    assert snapshot(session, case.id) == before


def test_complete__without_service_hours_is_invalid_and_changes_nothing(session, rt, city, clock):
    case = raise_community_whistle(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    (lead,) = assignments_of(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "unit")
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match="service_hours: required by this workflow"):
        fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "unit", {"result": "已清理"})
    assert snapshot(session, case.id) == before


def test_complete__with_service_hours_stores_them_and_resolves_the_case(session, rt, city, clock):
    case = raise_community_whistle(session, rt, city, clock)
    fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
    (lead,) = assignments_of(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "unit")
    done = {"result": "已清理楼道堆物", "service_hours": 3.5, "evidence": ["photo:7"]}
    lead = fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "unit", done)
    assert (lead.state, lead.service_hours, lead.result, lead.evidence) == (
        AssignmentState.DONE, 3.5, "已清理楼道堆物", ["photo:7"]
    )  # fmt: skip
    assert reload(session, case.id).state == CaseState.RESOLVED
    rating = {"solved": True, "rating": Rating.SATISFIED}
    case = fire(session, rt, city, clock, case.id, Trigger.RATE, "grid_c1", rating)
    assert case.state == CaseState.RATED
    assert open_clocks(session, case.id) == []
    assert list(verify_chains(session)) == []


def test_dispatch__of_a_community_whistle_to_the_unit_waits_for_its_acceptance(
    session, rt, city, clock
):
    case = raise_community_whistle(session, rt, city, clock)
    case = fire(
        session, rt, city, clock, case.id, Trigger.DISPATCH, "grid_c1", {"lead": city.unit.id}
    )
    assert case.state == CaseState.ASSIGNED
    (lead,) = assignments_of(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "unit")
    assert reload(session, case.id).state == CaseState.REPORTING_IN
