"""The command centre's dispatch tools (issue 14, item 8): instructions per assignment (派单意见),
reassignment (改派), added assisting departments (追加协办), 催办/督办 by hand, bulk dispatch.

A reassignment withdraws the lead (its clocks cancelled, not failed) and gives the new lead fresh
clocks in one decision; a supervision by hand counts in the evaluation exactly as the ladder's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.case.bulk_dispatch import MAX_CASES, Wanted, dispatch_many
from engine.errors import (
    Forbidden,
    GuardFailed,
    IllegalTransition,
    InvalidInput,
    OutOfScope,
    StaleVersion,
)
from engine.evaluation.recompute import stored_rollups
from engine.event.models import Event
from engine.notification.models import WebhookDelivery
from engine.notification.service import add_subscription, inbox
from engine.rollup.metrics import Metric, RollupLevel
from engine.vocabulary import (
    AssignmentRole,
    AssignmentState,
    CaseState,
    DeadlineState,
    Trigger,
)
from tests.builders import assignments_of, make_case, reload
from tests.evaluation_support import rollup_differences
from tests.scenario import deadline, event_triggers, fire, fire_on, lead_and_assisting, snapshot

REASON = {"reason": "原派单部门不对口，改由水务局主办"}


def _events(session, case_id, trigger):
    stmt = select(Event).where(Event.case_id == case_id, Event.trigger == trigger)
    return list(session.scalars(stmt.order_by(Event.seq)))


def _supervisions(session, level, unit_id):
    return sum(
        v for (lv, u, _m, metric), v in stored_rollups(session).items()
        if (lv, u, metric) == (level, unit_id, Metric.SUPERVISIONS)
    )  # fmt: skip


# -- instructions (派单意见) ---------------------------------------------------------------------


def test_dispatch__stores_each_targets_instruction_and_the_common_one_for_the_rest(
    session, rt, city, clock
):
    um, water, housing = city.departments
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    payload = {
        "lead": um.id,
        "assisting": [water.id, housing.id],
        "instruction": "请于今日内联系居民",
        "instructions": {str(um.id): "请主办部门牵头现场核实"},
    }
    fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", payload)
    orders = {a.org_id: a.instruction for a in assignments_of(session, case.id)}
    assert orders == {
        um.id: "请主办部门牵头现场核实",
        water.id: "请于今日内联系居民",
        housing.id: "请于今日内联系居民",
    }


def test_dispatch__without_instructions_leaves_them_empty(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    assert [a.instruction for a in assignments_of(session, case.id)] == [None, None]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"instructions": {"999": "请处理"}}, r"instructions: \[999\] not among"),
        ({"instructions": {"x": "请处理"}}, "instructions"),
        ({"instructions": {"{um}": "  "}}, "1..2000 characters"),
        ({"instructions": {"{um}": "长" * 2001}}, "1..2000 characters"),
        ({"instruction": "长" * 2001}, "instruction"),
        ({"instruction": 12}, "instruction"),
    ],
)
def test_dispatch__a_wrong_instruction_is_refused_and_changes_nothing(
    session, rt, city, clock, bad, says
):
    um = city.departments[0]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    if "instructions" in bad:
        bad = {"instructions": {k.replace("{um}", str(um.id)): v
                                for k, v in bad["instructions"].items()}}  # fmt: skip
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=says):
        fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", {"lead": um.id, **bad})
    assert snapshot(session, case.id) == before


# -- reassign (改派) ------------------------------------------------------------------------------


def test_reassign__withdraws_the_lead_cancels_its_clocks_and_gives_the_new_lead_fresh_ones(
    session, rt, city, clock
):
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    old, helper = lead_and_assisting(session, case.id)
    (resolve_before,) = deadline(session, case.id, "resolve")
    payload = {**REASON, "lead": housing.id, "instruction": "请住建委牵头处理"}
    case = fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1", payload)
    assert case.state == CaseState.ASSIGNED
    rows = {a.id: a for a in assignments_of(session, case.id)}
    assert rows[old.id].state == AssignmentState.WITHDRAWN
    assert rows[old.id].withdrawn_at == clock.now()
    assert rows[helper.id].state == helper.state  # assisting departments stay
    (new,) = [a for a in rows.values() if a.id not in (old.id, helper.id)]
    assert (new.org_id, new.role, new.state, new.instruction) == (
        housing.id, AssignmentRole.LEAD, AssignmentState.ASSIGNED, "请住建委牵头处理"
    )  # fmt: skip
    # The old lead had accepted: its report-in clock is cancelled, not failed.
    (old_report_in,) = deadline(session, case.id, "report_in", old.id)
    assert (old_report_in.state, old_report_in.closed_at) == (DeadlineState.CANCELLED, clock.now())
    assert rows[old.id].reported_in_on_time is None
    for name in ("accept", "report_in"):
        (fresh,) = deadline(session, case.id, name, new.id)
        assert (fresh.state, fresh.started_at) == (DeadlineState.OPEN, clock.now())
    # The resident's wait does not restart: the resolve clock runs on.
    (resolve_after,) = deadline(session, case.id, "resolve")
    assert (resolve_after.id, resolve_after.state) == (resolve_before.id, DeadlineState.OPEN)
    (event,) = _events(session, case.id, Trigger.REASSIGN)
    assert (event.from_state, event.to_state) == (CaseState.REPORTING_IN, CaseState.ASSIGNED)
    assert event.payload["reason"] == REASON["reason"]
    assert event.payload["assignments"] == [new.id]
    assert event_triggers(session, case.id)[-2:] == [Trigger.REASSIGN, Trigger.WITHDRAW]
    assert rollup_differences(session, rt) == []


def test_reassign__the_new_lead_works_the_case_to_resolution(session, rt, city, clock):
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1",
         {**REASON, "lead": housing.id})  # fmt: skip
    new = next(a for a in assignments_of(session, case.id) if a.org_id == housing.id)
    for trigger in (Trigger.ACCEPT, Trigger.REPORT_IN, Trigger.COMPLETE):
        fire_on(session, rt, city, clock, new.id, trigger, "dept_housing",
                {"result": "已修复"} if trigger == Trigger.COMPLETE else {})  # fmt: skip
    assert reload(session, case.id).state == CaseState.RESOLVED
    assert rollup_differences(session, rt) == []


def test_reassign__to_an_assisting_department_withdraws_its_assisting_task(
    session, rt, city, clock
):
    water = city.departments[1]
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    old, helper = lead_and_assisting(session, case.id)
    fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1", {**REASON, "lead": water.id})
    rows = assignments_of(session, case.id)
    states = sorted((a.org_id, a.role, a.state) for a in rows)
    assert states == sorted([
        (old.org_id, AssignmentRole.LEAD, AssignmentState.WITHDRAWN),
        (water.id, AssignmentRole.ASSISTING, AssignmentState.WITHDRAWN),
        (water.id, AssignmentRole.LEAD, AssignmentState.ASSIGNED),
    ])  # fmt: skip
    assert helper.id in {a.id for a in rows}


@pytest.mark.parametrize(
    ("who", "payload", "error", "says"),
    [
        ("cc_s1", {"lead": "{um}"}, InvalidInput, "reason: Field required"),
        ("cc_s1", {"lead": "{um}", "reason": "x"}, InvalidInput, "reason"),
        ("cc_s1", {"reason": "改派"}, InvalidInput, "lead: Field required"),
        ("cc_s1", {**REASON, "lead": "{um}"}, InvalidInput, "already the lead"),
        ("cc_s1", {**REASON, "lead": "{street_dept_2}"}, InvalidInput, "not an active"),
        ("cc_s1", {**REASON, "lead": "{unit}"}, InvalidInput, "co-building unit"),
        (
            "cc_s1",
            {**REASON, "lead": "{housing}", "instructions": {"{um}": "请"}},
            InvalidInput,
            "not among",
        ),
        ("cc_s2", {**REASON, "lead": "{housing}"}, OutOfScope, "not found"),
        ("dept_um", {**REASON, "lead": "{housing}"}, Forbidden, "may not fire"),
        ("grid_c1", {**REASON, "lead": "{housing}"}, Forbidden, "may not fire"),
    ],
)
def test_reassign__bad_requests_are_refused_and_change_nothing(
    session, rt, city, clock, who, payload, error, says
):
    names = {"{um}": city.departments[0].id, "{housing}": city.departments[2].id,
             "{unit}": city.unit.id, "{street_dept_2}": 99_999}  # fmt: skip

    def real(value):
        if isinstance(value, dict):
            return {str(names.get(k, k)): real(v) for k, v in value.items()}
        return names.get(value, value) if isinstance(value, str) else value

    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = snapshot(session, case.id)
    with pytest.raises(error, match=says):
        fire(session, rt, city, clock, case.id, Trigger.REASSIGN, who, real(payload))
    assert snapshot(session, case.id) == before


@pytest.mark.parametrize("state", [CaseState.REPORTED, CaseState.RESOLVED, CaseState.RATED])
def test_reassign__outside_the_handling_states_is_illegal_and_changes_nothing(
    session, rt, city, clock, state
):
    case = make_case(session, rt, city, clock, state=state)
    before = snapshot(session, case.id)
    with pytest.raises(IllegalTransition):
        fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1",
             {**REASON, "lead": city.departments[2].id})  # fmt: skip
    assert snapshot(session, case.id) == before


def test_reassign__a_lead_that_is_done_cannot_be_replaced(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, _helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已修复"})
    assert reload(session, case.id).state == CaseState.REPORTING_IN  # the helper is not done
    before = snapshot(session, case.id)
    with pytest.raises(GuardFailed, match="lead_not_done"):
        fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1",
             {**REASON, "lead": city.departments[2].id})  # fmt: skip
    assert snapshot(session, case.id) == before


def test_reassign__at_a_stale_version_is_refused_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = snapshot(session, case.id)
    with pytest.raises(StaleVersion):
        fire(session, rt, city, clock, case.id, Trigger.REASSIGN, "cc_s1",
             {**REASON, "lead": city.departments[2].id}, version=case.version - 1)  # fmt: skip
    assert snapshot(session, case.id) == before


# -- add assisting (追加协办) ----------------------------------------------------------------------


def test_add_assisting__while_handled_adds_a_task_with_its_clocks_and_resolution_waits(
    session, rt, city, clock
):
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False)
    payload = {"assisting": [housing.id], "instructions": {str(housing.id): "请核查管线"}}
    case = fire(session, rt, city, clock, case.id, Trigger.ADD_ASSISTING, "cc_s1", payload)
    assert case.state == CaseState.REPORTING_IN
    lead, added = lead_and_assisting(session, case.id)
    assert (added.org_id, added.state, added.instruction) == (
        housing.id, AssignmentState.ASSIGNED, "请核查管线"
    )  # fmt: skip
    for name in ("accept", "report_in"):
        (clock_row,) = deadline(session, case.id, name, added.id)
        assert (clock_row.state, clock_row.started_at) == (DeadlineState.OPEN, clock.now())
    (event,) = _events(session, case.id, Trigger.ADD_ASSISTING)
    assert event.payload["assignments"] == [added.id]
    # The lead finishing no longer resolves the case: the added department must finish too.
    fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "dept_um")
    fire_on(session, rt, city, clock, lead.id, Trigger.COMPLETE, "dept_um", {"result": "已修复"})
    assert reload(session, case.id).state == CaseState.REPORTING_IN
    for trigger in (Trigger.ACCEPT, Trigger.REPORT_IN, Trigger.COMPLETE):
        fire_on(session, rt, city, clock, added.id, trigger, "dept_housing",
                {"result": "管线正常"} if trigger == Trigger.COMPLETE else {})  # fmt: skip
    assert reload(session, case.id).state == CaseState.RESOLVED
    assert rollup_differences(session, rt) == []


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({}, "assisting: Field required"),
        ({"assisting": []}, "assisting"),
        ({"assisting": ["{housing}", "{housing}"]}, "named twice"),
        ({"assisting": ["{water}"]}, "already has an open task"),
        ({"assisting": ["{um}"]}, "already has an open task"),
        ({"assisting": [99_999]}, "not an active"),
        ({"assisting": list(range(1, 23))}, "assisting"),
        ({"assisting": ["{housing}"], "instructions": {"{water}": "请"}}, "not among"),
    ],
)
def test_add_assisting__bad_requests_are_refused_and_change_nothing(
    session, rt, city, clock, payload, says
):
    um, water, housing = city.departments
    names = {"{um}": um.id, "{water}": water.id, "{housing}": housing.id}

    def real(value):
        if isinstance(value, dict):
            return {str(names.get(k, k)): real(v) for k, v in value.items()}
        if isinstance(value, list):
            return [real(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=says):
        fire(session, rt, city, clock, case.id, Trigger.ADD_ASSISTING, "cc_s1", real(payload))
    assert snapshot(session, case.id) == before


@pytest.mark.parametrize(
    ("who", "state", "error"),
    [
        ("cc_s2", CaseState.REPORTING_IN, OutOfScope),
        ("dept_um", CaseState.REPORTING_IN, Forbidden),
        ("cc_s1", CaseState.REPORTED, IllegalTransition),
        ("cc_s1", CaseState.RESOLVED, IllegalTransition),
    ],
)
def test_add_assisting__out_of_scope_role_or_state_is_refused_and_changes_nothing(
    session, rt, city, clock, who, state, error
):
    case = make_case(session, rt, city, clock, state=state)
    before = snapshot(session, case.id)
    with pytest.raises(error):
        fire(session, rt, city, clock, case.id, Trigger.ADD_ASSISTING, who,
             {"assisting": [city.departments[2].id]})  # fmt: skip
    assert snapshot(session, case.id) == before


# -- 催办 and 督办 by hand ---------------------------------------------------------------------


def test_manual_remind__records_who_and_why_and_tells_the_department(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, helper = lead_and_assisting(session, case.id)
    payload = {"reason": "居民再次来电催促", "assignment_id": helper.id}
    fire(session, rt, city, clock, case.id, Trigger.MANUAL_REMIND, "cc_s1", payload)
    (event,) = _events(session, case.id, Trigger.MANUAL_REMIND)
    assert event.actor_id == city.accounts["cc_s1"].id
    assert event.payload == {"reason": "居民再次来电催促", "assignment_id": helper.id}
    (note,) = inbox(session=session, actor=city.actor(session, "dept_water"))
    assert (note.kind, note.case_id, note.payload["reason"]) == (
        Trigger.REMIND, case.id, "居民再次来电催促"
    )  # fmt: skip
    assert "居民再次来电催促" in note.title_zh
    assert "Reminder" in note.title_en
    assert inbox(session=session, actor=city.actor(session, "dept_um")) == []
    # A reminder changes no figure, as the ladder's does not.
    assert _supervisions(session, RollupLevel.ORG, lead.org_id) == 0
    assert rollup_differences(session, rt) == []


def test_manual_supervise__counts_in_the_evaluation_as_the_ladders_supervision(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, _helper = lead_and_assisting(session, case.id)
    fire(session, rt, city, clock, case.id, Trigger.MANUAL_SUPERVISE, "cc_s1",
         {"reason": "久拖未办，列入督办"})  # fmt: skip
    lead_row = next(a for a in assignments_of(session, case.id) if a.id == lead.id)
    assert (reload(session, case.id).supervise_count, lead_row.supervise_count) == (1, 1)
    assert _supervisions(session, RollupLevel.ORG, lead.org_id) == 1
    assert _supervisions(session, RollupLevel.STREET, city.streets[0].id) == 1
    (note,) = inbox(session=session, actor=city.actor(session, "dept_um"))
    assert note.kind == Trigger.SUPERVISE
    assert rollup_differences(session, rt) == []


def test_manual_supervise__goes_to_the_departments_webhook_as_a_supervision(
    session, rt, city, clock
):
    admin = city.actor(session, "admin")
    wanted = add_subscription(
        session=session, actor=admin, org_id=city.departments[0].id,
        url="https://hooks.example.org/um", secret="s" * 20, kinds=[Trigger.SUPERVISE],
        now=clock.now(),
    )  # fmt: skip
    add_subscription(
        session=session, actor=admin, org_id=city.departments[0].id,
        url="https://hooks.example.org/um-reminders", secret="s" * 20, kinds=[Trigger.REMIND],
        now=clock.now(),
    )  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    fire(session, rt, city, clock, case.id, Trigger.MANUAL_SUPERVISE, "cc_s1",
         {"reason": "久拖未办，列入督办"})  # fmt: skip
    (delivery,) = session.scalars(select(WebhookDelivery))
    assert delivery.subscription_id == wanted.id


def test_manual_supervise__of_a_very_long_reason_still_fits_the_notification(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    fire(session, rt, city, clock, case.id, Trigger.MANUAL_SUPERVISE, "cc_s1",
         {"reason": "督" * 2000})  # fmt: skip
    (note,) = inbox(session=session, actor=city.actor(session, "dept_um"))
    assert len(note.title_zh) == 400
    assert note.title_zh.endswith("…")
    assert note.payload["reason"] == "督" * 2000


@pytest.mark.parametrize("trigger", [Trigger.MANUAL_REMIND, Trigger.MANUAL_SUPERVISE])
@pytest.mark.parametrize(
    ("who", "state", "payload", "error"),
    [
        ("cc_s1", CaseState.ASSIGNED, {}, InvalidInput),
        ("cc_s1", CaseState.ASSIGNED, {"reason": "x"}, InvalidInput),
        ("cc_s1", CaseState.ASSIGNED, {"reason": "请尽快", "assignment_id": 99_999}, InvalidInput),
        ("cc_s1", CaseState.ASSIGNED, {"reason": "请尽快", "assignment_id": "abc"}, InvalidInput),
        ("cc_s1", CaseState.REPORTED, {"reason": "请尽快"}, IllegalTransition),
        ("cc_s1", CaseState.RESOLVED, {"reason": "请尽快"}, IllegalTransition),
        ("cc_s2", CaseState.ASSIGNED, {"reason": "请尽快"}, OutOfScope),
        ("dept_um", CaseState.ASSIGNED, {"reason": "请尽快"}, Forbidden),
        ("assessor", CaseState.ASSIGNED, {"reason": "请尽快"}, Forbidden),
    ],
)
def test_manual_steps__bad_requests_are_refused_and_change_nothing(
    session, rt, city, clock, trigger, who, state, payload, error
):
    case = make_case(session, rt, city, clock, state=state)
    before = snapshot(session, case.id)
    with pytest.raises(error):
        fire(session, rt, city, clock, case.id, trigger, who, payload)
    assert snapshot(session, case.id) == before
    assert inbox(session=session, actor=city.actor(session, "dept_um")) == []


def test_manual_steps__an_assignment_of_another_case_or_one_done_is_refused(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    other = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, helper = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, helper.id, Trigger.REPORT_IN, "dept_water")
    fire_on(
        session, rt, city, clock, helper.id, Trigger.COMPLETE, "dept_water", {"result": "已办好"}
    )
    foreign, _ = lead_and_assisting(session, other.id)
    for target in (foreign.id, helper.id):
        before = snapshot(session, case.id)
        with pytest.raises(InvalidInput, match="not an open assignment"):
            fire(session, rt, city, clock, case.id, Trigger.MANUAL_SUPERVISE, "cc_s1",
                 {"reason": "请尽快", "assignment_id": target})  # fmt: skip
        assert snapshot(session, case.id) == before
    assert lead.state != AssignmentState.DONE


# -- bulk dispatch --------------------------------------------------------------------------------


def test_dispatch_many__each_case_alone_and_a_summary_of_what_failed_and_why(
    session, rt, city, clock
):
    ok = make_case(session, rt, city, clock, state=CaseState.REPORTED, category_id=city.category.id)
    stale = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    foreign = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    done = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    uncategorised = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = {c.id: snapshot(session, c.id) for c in (stale, foreign, done, uncategorised)}
    wanted = [
        Wanted(ok.id, ok.version),
        Wanted(stale.id, stale.version - 1),
        Wanted(foreign.id),
        Wanted(done.id),
        Wanted(uncategorised.id),
        Wanted(99_999),
    ]
    outcomes = dispatch_many(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"), wanted=wanted,
        instruction="请按职责处理", now=clock.now(),
    )  # fmt: skip
    got = {o.case_id: (o.dispatched, o.failure) for o in outcomes}
    assert [o.case_id for o in outcomes] == [w.case_id for w in wanted]
    assert got == {
        ok.id: (True, None),
        stale.id: (False, "stale"),
        foreign.id: (False, "not_found"),
        done.id: (False, "illegal"),
        uncategorised.id: (False, "invalid"),
        99_999: (False, "not_found"),
    }
    first = outcomes[0]
    # The routing rule chose the lead (城管委) and its assisting department (水务局).
    assert first.lead == city.departments[0].id
    assert first.version == reload(session, ok.id).version
    rows = assignments_of(session, ok.id)
    assert [(a.org_id, a.instruction) for a in rows] == [
        (city.departments[0].id, "请按职责处理"), (city.departments[1].id, "请按职责处理")
    ]  # fmt: skip
    assert "no category" in outcomes[4].detail
    for case_id, seen in before.items():
        assert snapshot(session, case_id)["case"] == seen["case"]
    assert rollup_differences(session, rt) == []


def test_dispatch_many__with_one_chosen_lead_sends_every_case_there(session, rt, city, clock):
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(3)]
    housing = city.departments[2]
    outcomes = dispatch_many(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"),
        wanted=[Wanted(c.id, c.version) for c in cases], lead=housing.id, now=clock.now(),
    )  # fmt: skip
    assert [(o.dispatched, o.lead) for o in outcomes] == [(True, housing.id)] * 3
    for c in cases:
        assert reload(session, c.id).state == CaseState.ASSIGNED


@pytest.mark.parametrize(
    ("wanted", "extra", "says"),
    [
        ([], {}, "at least one"),
        ([1] * 2, {}, "named twice"),
        (list(range(1, MAX_CASES + 2)), {}, f"at most {MAX_CASES}"),
        ([1], {"lead": "x"}, "lead"),
        ([1], {"instruction": "长" * 2001}, "instruction"),
        ([1], {"assisting": [5, 5], "lead": 5}, "named twice"),
    ],
)
def test_dispatch_many__a_wrong_request_dispatches_nothing(
    session, rt, city, clock, wanted, extra, says
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    ids = [case.id if i == 1 else i + 10_000 for i in wanted]
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=says):
        dispatch_many(
            session=session, rt=rt, actor=city.actor(session, "cc_s1"),
            wanted=[Wanted(i) for i in ids], now=clock.now(), **extra,
        )  # fmt: skip
    assert snapshot(session, case.id) == before
