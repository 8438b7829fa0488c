"""Items 7 and 8 of the hardening issue: out of scope is 404 before anything else is said, and
residents and co-building units see no internal events or cases not theirs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case
from engine.errors import InvalidInput
from engine.evaluation.period import Period
from engine.evaluation.service import drill_down
from engine.organisation import service as org
from engine.rollup.metrics import Figure, Level
from engine.vocabulary import AssignmentRole, CaseState, Trigger
from tests.builders import assignments_of, make_case, png_file
from tests.fixtures_api import row_counts
from tests.scenario import fire, fire_on, lead_and_assisting

INTERNAL = "INTERNAL: reporter is a habitual complainer"


# -- item 7: 404 first ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["cc_s2", "grid_c2", "resident2", "assessor_s2", "dept_housing"])
@pytest.mark.parametrize("trigger", ["dispatch", "accept", "rate"])
def test_assignment_transition__out_of_scope_is_404_before_the_trigger_or_the_state(
    api, session, rt, city, clock, session_factory, who, trigger
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/assignments/{lead.id}/transitions", who, json={"trigger": trigger})

    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == f"assignment {lead.id} not found"
    assert "assigned" not in answer.text
    assert row_counts(session_factory) == before


def test_assignment_transition__in_scope_a_case_trigger_is_still_named_a_409(
    api, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)

    answer = api.post(f"/api/v1/assignments/{lead.id}/transitions", "cc_s1",
                      json={"trigger": "dispatch"})  # fmt: skip

    assert answer.status_code == 409
    assert "is 'assigned'" in answer.json()["detail"]


def test_raise__a_source_ref_taken_in_another_street_does_not_name_that_case(
    api, session, rt, city, clock, session_factory
):
    taken = make_case(session, rt, city, clock, raiser="cc_s1", source_ref="x1")
    before = row_counts(session_factory)

    answer = api.post("/api/v1/cases", "cc_s2", json={
        "workflow": "hotline", "area_id": city.grids[1].id, "title": "路灯不亮",
        "description": "东华门大街12号路灯连续三晚不亮", "source_ref": "x1",
        "source": taken.source,
    })  # fmt: skip
    mine = api.post("/api/v1/cases", "cc_s1", json={
        "workflow": "hotline", "area_id": city.grids[0].id, "title": "路灯不亮",
        "description": "东华门大街12号路灯连续三晚不亮", "source_ref": "x1",
        "source": taken.source,
    })  # fmt: skip

    assert answer.status_code == 422
    assert answer.json()["detail"].endswith("x1 is a case outside your scope")
    assert f"case {taken.id}" not in answer.json()["detail"]
    assert mine.status_code == 422
    assert mine.json()["detail"].endswith(f"x1 is case {taken.id}")
    assert row_counts(session_factory) == before


@pytest.mark.parametrize("name", ["resident", "resident2", "no-such-user", "cc_s1"])
def test_raise__a_grid_worker_naming_a_reporter_account_gets_one_answer_whoever_it_names(
    session, rt, city, clock, name
):
    draft = CaseDraft(
        workflow="hotline", area_id=city.grids[0].id, title="路灯不亮",
        description="东华门大街12号路灯连续三晚不亮", reporter_account=name,
    )  # fmt: skip

    with pytest.raises(InvalidInput, match=r"only a command centre names the reporter$"):
        raise_case(session=session, rt=rt, actor=city.actor(session, "grid_c1"), draft=draft,
                   now=clock.now())  # fmt: skip

    session.rollback()
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_drill_down__a_units_cases_in_another_street_are_not_listed_to_a_street_centre(
    session, rt, city, clock
):
    org.register_unit(session, unit=city.unit, community=city.communities[1], now=clock.now())
    session.commit()
    cases = []
    for street in (0, 1):
        case = raise_case(
            session=session, rt=rt, actor=city.actor(session, "cc_s1" if street == 0 else "cc_s2"),
            draft=CaseDraft(workflow="community_whistle", area_id=city.grids[street].id,
                            title="楼道堆物清理", description="3号楼楼道堆物需要清理"),
            now=clock.now(),
        )  # fmt: skip
        fire(session, rt, city, clock, case.id, Trigger.CLAIM, "unit")
        (lead,) = assignments_of(session, case.id)
        fire_on(session, rt, city, clock, lead.id, Trigger.REPORT_IN, "unit")
        cases.append(case.id)

    def listed(who: str) -> set[int]:
        found = drill_down(
            session=session, rt=rt, actor=city.actor(session, who), level=Level.UNIT,
            unit_id=city.unit.id, figure=Figure.RESPONSE_RATE, period=Period.month(2026, 3),
        )  # fmt: skip
        return set(found.to_dict()["denominator"]["case_ids"])

    assert listed("cc_s1") == {cases[0]}
    assert listed("cc_s2") == {cases[1]}
    assert listed("assessor") == set(cases)


# -- item 8: what residents and units see ---------------------------------------------------------


def test_events__the_reporting_resident_sees_only_the_case_moves_without_internals(
    api, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = lead_and_assisting(session, case.id)
    fire_on(session, rt, city, clock, lead.id, Trigger.OBJECT, "dept_um", {"reason": INTERNAL})

    staff = api.get(f"/api/v1/cases/{case.id}/events", "cc_s1").json()
    mine = api.get(f"/api/v1/cases/{case.id}/events", "resident").json()

    assert INTERNAL in str(staff)
    assert INTERNAL not in str(mine)
    assert {e["subject"] for e in mine} == {"case"}
    assert all(e["from_state"] != e["to_state"] for e in mine)
    assert [e["to_state"] for e in mine] == ["reported", "assigned", "returned"]
    own = [e for e in mine if e["trigger"] == "raise"]
    assert own[0]["actor_id"] == city.accounts["resident"].id
    assert all(e["actor_id"] is None and e["payload"] == {} for e in mine if e not in own)
    assert all(e["assignment_id"] is None for e in mine)


def test_unit__does_not_see_or_attach_to_a_hotline_case_of_its_community(
    api, session, rt, city, clock, session_factory
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)  # community 1, hotline
    before = row_counts(session_factory)
    png = png_file()

    read = api.get(f"/api/v1/cases/{case.id}", "unit")
    attach = api.post(f"/api/v1/cases/{case.id}/evidence", "unit",
                      files={"file": ("p.png", png, "image/png")})  # fmt: skip
    listed = [c["id"] for c in api.get("/api/v1/cases", "unit").json()["items"]]

    assert (read.status_code, attach.status_code) == (404, 404)
    assert case.id not in listed
    assert row_counts(session_factory) == before
