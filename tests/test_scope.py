"""Who may act where (DESIGN §1, §6): out of scope looks like not found; in scope but not your
role is forbidden; a department never acts on another department's assignment."""

from __future__ import annotations

import pytest

from engine.case.service import transition_assignment, transition_case
from engine.errors import Forbidden, InvalidInput, NotFound, OutOfScope
from engine.vocabulary import CaseState, Trigger
from tests.builders import assignments_of, make_case, reload
from tests.scenario import VALID_PAYLOADS, fire, fire_on, lead_and_assisting, snapshot


def test_accept__of_another_departments_assignment_is_not_found_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, helper = lead_and_assisting(session, case.id)
    before = snapshot(session, case.id)
    for assignment, stranger in [(lead, "dept_water"), (helper, "dept_um"), (lead, "dept_housing")]:
        with pytest.raises(OutOfScope) as info:
            fire_on(session, rt, city, clock, assignment.id, Trigger.ACCEPT, stranger)
        assert isinstance(info.value, NotFound)
        assert str(info.value) == f"assignment {assignment.id} not found"
    assert snapshot(session, case.id) == before


def test_dispatch__by_the_command_centre_of_another_street_is_not_found_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)  # in street 0
    before = snapshot(session, case.id)
    with pytest.raises(OutOfScope, match=f"case {case.id} not found"):
        fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s2",
             {"lead": city.departments[0].id})  # fmt: skip
    assert snapshot(session, case.id) == before


def test_dispatch__by_the_district_command_centre_reaches_every_street(session, rt, city, clock):
    for street in (0, 1):
        case = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=street)
        payload = {"lead": city.departments[0].id}
        case = fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_district", payload)
        assert case.state == CaseState.ASSIGNED


def test_rate__of_someone_elses_case_is_not_found_and_changes_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)  # raised by "resident"
    before = snapshot(session, case.id)
    with pytest.raises(OutOfScope):
        fire(session, rt, city, clock, case.id, Trigger.RATE, "resident2",
             {"solved": True, "rating": "satisfied"})  # fmt: skip
    assert snapshot(session, case.id) == before


@pytest.mark.parametrize("state", [CaseState.REPORTED, CaseState.REPORTING_IN, CaseState.RATED])
def test_assessor__can_fire_nothing_and_changes_nothing(session, rt, city, clock, state):
    case = make_case(session, rt, city, clock, state=state)
    wf = rt.workflows.get(case.workflow)
    other = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    payloads = dict(VALID_PAYLOADS)
    payloads[Trigger.DISPATCH] = {"lead": city.departments[0].id}
    payloads[Trigger.MERGE] = {"into": other.id, "reason": "同一诉求"}
    assessor = city.actor(session, "assessor")
    before = snapshot(session, case.id)
    tried = 0
    for trigger in wf.spec.case.triggers:
        with pytest.raises((Forbidden, OutOfScope)):
            transition_case(session=session, rt=rt, actor=assessor, case_id=case.id,
                            trigger=trigger, payload=payloads.get(Trigger(trigger), {}),
                            now=clock.now())  # fmt: skip
        tried += 1
    for a in assignments_of(session, case.id):
        for trigger in wf.spec.assignment.triggers:
            with pytest.raises((Forbidden, OutOfScope)):
                transition_assignment(session=session, rt=rt, actor=assessor, assignment_id=a.id,
                                      trigger=trigger, payload=payloads.get(Trigger(trigger), {}),
                                      now=clock.now())  # fmt: skip
            tried += 1
    assert tried >= len(wf.spec.case.triggers)
    assert snapshot(session, case.id) == before


def test_dispatch__to_another_streets_own_department_is_invalid_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match=f"department {city.street_department.id} belongs"):
        fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s2",
             {"lead": city.street_department.id})  # fmt: skip
    assert snapshot(session, case.id) == before


def test_dispatch__to_a_streets_own_department_within_that_street_is_allowed(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=0)
    payload = {"lead": city.street_department.id}
    case = fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", payload)
    (lead,) = assignments_of(session, case.id)
    assert (case.state, lead.org_id) == (CaseState.ASSIGNED, city.street_department.id)


@pytest.mark.parametrize(
    "target", ["a district", "a street", "a co-building unit", "a missing node", "named twice"]
)
def test_dispatch__to_something_not_a_department_is_invalid_and_changes_nothing(
    session, rt, city, clock, target
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    payload = {
        "a district": {"lead": city.district.id},
        "a street": {"lead": city.streets[0].id},
        "a co-building unit": {"lead": city.unit.id},
        "a missing node": {"lead": 9999},
        "named twice": {"lead": city.departments[0].id, "assisting": [city.departments[0].id]},
    }[target]
    before = snapshot(session, case.id)
    with pytest.raises(InvalidInput, match="dispatch"):
        fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1", payload)
    assert snapshot(session, case.id) == before


def test_request_extension__by_an_assisting_department_is_forbidden_and_changes_nothing(
    session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = snapshot(session, case.id)
    for trigger, payload in [
        (Trigger.REQUEST_EXTENSION, {"reason": "需要更多时间", "extend_by": "2wd"}),
        (Trigger.REQUEST_HARD_CASE, {"reason": "难以解决"}),
    ]:
        with pytest.raises(Forbidden, match="lead department only"):
            fire(session, rt, city, clock, case.id, trigger, "dept_water", payload)
    assert snapshot(session, case.id) == before


def test_department__on_a_case_it_has_no_share_of_sees_nothing(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    before = snapshot(session, case.id)
    with pytest.raises(OutOfScope):
        fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_housing",
             {"reason": "需要更多时间", "extend_by": "2wd"})  # fmt: skip
    assert snapshot(session, case.id) == before


def test_withdrawn_lead__can_no_longer_act_as_lead(session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    fire_on(
        session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", {"reason": "非本部门职责"}
    )
    fire_on(session, rt, city, clock, lead.id, Trigger.UPHOLD_OBJECTION, "cc_s1")
    fire(session, rt, city, clock, case.id, Trigger.DISPATCH, "cc_s1",
         {"lead": city.departments[2].id})  # fmt: skip
    assert reload(session, case.id).state == CaseState.ASSIGNED
    before = snapshot(session, case.id)
    with pytest.raises(Forbidden, match="lead department only"):
        fire(session, rt, city, clock, case.id, Trigger.REQUEST_EXTENSION, "dept_um",
             {"reason": "需要更多时间", "extend_by": "2wd"})  # fmt: skip
    assert snapshot(session, case.id) == before
