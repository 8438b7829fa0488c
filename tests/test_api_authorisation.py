"""Who may call what over HTTP: every endpoint × every role, each with an out-of-scope twin.

The case under test was raised by ``resident`` in street 1's grid and dispatched to 城管委
(``dept_um``, lead) with 水务局 (``dept_water``) assisting. Each table reads: account → status.
A case outside the caller's scope answers 404, like a case that does not exist.
"""

from __future__ import annotations

import pytest

from engine.vocabulary import AssignmentRole, CaseState, Trigger
from tests.builders import assignments_of, make_case, png_file
from tests.fixtures_api import ROLES, row_counts

ANONYMOUS = "anonymous"
CALLERS = (*ROLES, ANONYMOUS)

# Who sees the case (dispatched in street 1, community 1, grid 1). Not the co-building unit of
# community 1: it holds no assignment, and the case is no community demand (hardening, item 8).
SEES = {
    "admin", "cc_district", "cc_s1", "dept_um", "dept_water", "grid_c1", "resident", "assessor",
}  # fmt: skip


def _sees(ok: int) -> dict[str, int]:
    return {who: ok if who in SEES else 404 for who in ROLES} | {ANONYMOUS: 401}


READ_CASE = _sees(200)
RAISE = {who: 403 for who in ROLES} | {
    "admin": 201, "cc_district": 201, "cc_s1": 201, "grid_c1": 201, "resident": 201,
    "resident2": 201, ANONYMOUS: 401,
}  # fmt: skip
CANCEL = _sees(403) | {"admin": 200, "cc_district": 200, "cc_s1": 200}
ACCEPT_LEAD = {who: 403 if who in SEES else 404 for who in ROLES} | {
    "dept_um": 200, "dept_water": 404, "unit": 404, ANONYMOUS: 401,
}  # fmt: skip
ATTACH = _sees(201) | {"assessor": 403}
INBOX = {who: 403 for who in ROLES} | {
    "dept_um": 200, "dept_water": 200, "dept_housing": 200, "dept_s1_safe": 200, "unit": 200,
    "unit2": 200, ANONYMOUS: 401,
}  # fmt: skip
EVERYONE = {who: 200 for who in ROLES} | {ANONYMOUS: 401}
PNG = png_file()


@pytest.fixture
def case(api, session, rt, city, clock):
    return make_case(
        session, rt, city, clock, state=CaseState.ASSIGNED,
        reporter_name="张三丰", reporter_phone="13812341234",
    )  # fmt: skip


def statuses(call) -> dict[str, int]:
    return {who: call(None if who == ANONYMOUS else who).status_code for who in CALLERS}


@pytest.mark.parametrize(
    "path",
    ["/api/v1/cases/{id}", "/api/v1/cases/{id}/events", "/api/v1/cases/{id}/evidence"],
)
def test_reading_a_case__answers_404_outside_scope_and_401_without_token(api, case, path):
    assert statuses(lambda who: api.get(path.format(id=case.id), who)) == READ_CASE


def test_listing_cases__holds_the_case_only_for_those_who_see_it(api, case):
    listed = {
        who: case.id in [c["id"] for c in api.get("/api/v1/cases", who).json()["items"]]
        for who in ROLES
    }
    assert listed == {who: who in SEES for who in ROLES}
    assert api.get("/api/v1/cases", None).status_code == 401


def test_raising_a_case__follows_the_workflows_raise_roles_and_the_callers_area(api, city):
    area = city.grids[0].id
    body = {"title": "井盖丢失", "area_id": area, "workflow": "hotline"}
    assert statuses(lambda who: api.post("/api/v1/cases", who, json=body)) == RAISE


def test_cancelling__is_for_command_centres_in_scope_and_admins(api, session, rt, city, clock):
    results = {}
    for who in CALLERS:
        target = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
        body = {"trigger": Trigger.CANCEL, "reason": "重复受理"}
        path = f"/api/v1/cases/{target.id}/transitions"
        results[who] = api.post(path, None if who == ANONYMOUS else who, json=body).status_code
    assert results == CANCEL


def test_accepting_the_lead_assignment__is_for_the_lead_department_alone(
    api, session, rt, city, clock
):
    results = {}
    for who in CALLERS:
        target = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
        lead = next(a for a in assignments_of(session, target.id) if a.role == AssignmentRole.LEAD)
        path = f"/api/v1/assignments/{lead.id}/transitions"
        response = api.post(path, None if who == ANONYMOUS else who, json={"trigger": "accept"})
        results[who] = response.status_code
    assert results == ACCEPT_LEAD


def test_attaching_evidence__is_for_those_who_see_the_case_except_assessors(api, case):
    results = {}
    for i, who in enumerate(CALLERS):
        files = {"file": (f"photo{i}.png", png_file(i), "image/png")}
        path = f"/api/v1/cases/{case.id}/evidence"
        results[who] = api.post(path, None if who == ANONYMOUS else who, files=files).status_code
    assert results == ATTACH


def test_downloading_evidence__answers_404_outside_scope(api, case):
    files = {"file": ("photo.png", PNG, "image/png")}
    made = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1", files=files).json()
    path = f"/api/v1/cases/{case.id}/evidence/{made['id']}"
    assert statuses(lambda who: api.get(path, who)) == READ_CASE
    assert api.get(path, "resident").content == PNG


def test_task_inbox__is_for_departments_and_units(api, case):
    assert statuses(lambda who: api.get("/api/v1/tasks", who)) == INBOX


def test_task_inbox__holds_only_the_departments_own_assignments(api, session, case):
    lead, helper = assignments_of(session, case.id)
    held = {
        who: [t["assignment"]["id"] for t in api.get("/api/v1/tasks", who).json()["items"]]
        for who in ("dept_um", "dept_water", "dept_housing", "unit")
    }
    assert held == {"dept_um": [lead.id], "dept_water": [helper.id], "dept_housing": [], "unit": []}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organisation",
        "/api/v1/categories",
        "/api/v1/workflows",
        "/api/v1/workflows/hotline",
        "/api/v1/workflows/hotline/diagram",
    ],
)
def test_reference_data__is_read_by_every_signed_in_caller(api, path):
    assert statuses(lambda who: api.get(path, who)) == EVERYONE


def test_open311_request__is_scoped_like_the_api_with_a_key_and_public_without(api, case):
    def call(who):
        params = {"api_key": api.tokens[who]} if who else {}
        return api.get(f"/open311/v2/requests/{case.id}.json", None, params=params)

    # Without a key: the public projection, as GeoReport v2 has it (tests/test_open311_public.py).
    expected = {who: 200 if who in SEES else 404 for who in ROLES} | {ANONYMOUS: 200}
    assert statuses(call) == expected
    api.app.state.settings.open311_public_reads = False
    assert statuses(call) == expected | {ANONYMOUS: 403}


def test_case_detail__shows_a_department_only_its_own_assignment(api, session, case):
    lead, helper = assignments_of(session, case.id)
    shown = {
        who: [a["id"] for a in api.get(f"/api/v1/cases/{case.id}", who).json()["assignments"]]
        for who in ("dept_um", "dept_water", "cc_s1")
    }
    assert shown == {"dept_um": [lead.id], "dept_water": [helper.id], "cc_s1": [lead.id, helper.id]}


def test_timeline__hides_another_departments_moves(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead, helper = assignments_of(session, case.id)
    seen = {
        who: {e["assignment_id"] for e in api.get(f"/api/v1/cases/{case.id}/events", who).json()}
        for who in ("dept_um", "dept_water", "cc_s1")
    }
    assert seen == {
        "dept_um": {None, lead.id},
        "dept_water": {None, helper.id},
        "cc_s1": {None, lead.id, helper.id},
    }


def test_reporter__is_in_clear_for_the_centre_in_scope_the_lead_and_the_reporter(api, case):
    shown = {
        who: (body["reporter_name"], body["reporter_phone"])
        for who in SEES
        for body in [api.get(f"/api/v1/cases/{case.id}", who).json()]
    }
    clear, masked = ("张三丰", "13812341234"), ("张**", "138****1234")
    in_clear = {"cc_district", "cc_s1", "dept_um", "resident"}
    assert shown == {who: clear if who in in_clear else masked for who in SEES}


def test_resident__lists_only_their_own_cases(api, session, rt, city, clock, case):
    other = make_case(session, rt, city, clock, raiser="resident2")
    lists = {
        who: [c["id"] for c in api.get("/api/v1/cases", who).json()["items"]]
        for who in ("resident", "resident2")
    }
    assert lists == {"resident": [case.id], "resident2": [other.id]}


def test_assessor__reads_but_every_write_is_refused_and_changes_nothing(
    api, session_factory, session, case
):
    lead, _ = assignments_of(session, case.id)
    before = row_counts(session_factory)
    writes = [
        api.post("/api/v1/cases", "assessor", json={"title": "测试", "area_id": case.area_id}),
        api.post(f"/api/v1/cases/{case.id}/transitions", "assessor", json={"trigger": "merge"}),
        api.post(
            f"/api/v1/assignments/{lead.id}/transitions", "assessor", json={"trigger": "accept"}
        ),
        api.post(
            f"/api/v1/cases/{case.id}/evidence", "assessor",
            files={"file": ("a.png", PNG, "image/png")},
        ),
    ]  # fmt: skip
    assert [r.status_code for r in writes] == [403, 403, 403, 403]
    assert api.get(f"/api/v1/cases/{case.id}", "assessor").status_code == 200
    assert row_counts(session_factory) == before
