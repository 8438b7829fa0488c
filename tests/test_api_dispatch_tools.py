"""The dispatch tools over HTTP: instructions at dispatch, reassign, add assisting, 催办/督办 by
hand through the transitions endpoint, and bulk dispatch with its per-case summary."""

from __future__ import annotations

import pytest

from engine.vocabulary import AssignmentState, CaseState, Trigger
from tests.builders import make_case
from tests.fixtures_api import row_counts


def _move(api, case_id, who, trigger, **fields):
    return api.post(
        f"/api/v1/cases/{case_id}/transitions", who, json={"trigger": trigger, **fields}
    )


def test_dispatch__instructions_are_shown_on_each_assignment(api, session, rt, city, clock):
    um, water, _housing = city.departments
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    response = _move(
        api, case.id, "cc_s1", Trigger.DISPATCH, lead=um.id, assisting=[water.id],
        instruction="请今日内联系居民", instructions={str(um.id): "请牵头现场核实"},
        version=case.version,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    orders = {a["org_id"]: a["instruction"] for a in response.json()["assignments"]}
    assert orders == {um.id: "请牵头现场核实", water.id: "请今日内联系居民"}
    # The department sees its own order (and only its own assignment) on the case and its tasks.
    seen = api.get(f"/api/v1/cases/{case.id}", "dept_water").json()
    assert [a["instruction"] for a in seen["assignments"]] == ["请今日内联系居民"]
    tasks = api.get("/api/v1/tasks", "dept_water").json()["items"]
    assert [t["assignment"]["instruction"] for t in tasks] == ["请今日内联系居民"]


def test_reassign__answers_the_case_with_the_new_lead(api, session, rt, city, clock):
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    assert (
        Trigger.REASSIGN in api.get(f"/api/v1/cases/{case.id}", "cc_s1").json()["allowed_triggers"]
    )
    response = _move(
        api, case.id, "cc_s1", Trigger.REASSIGN, lead=housing.id, reason="原部门不对口",
        instruction="请住建委牵头", version=case.version,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == CaseState.ASSIGNED
    states = sorted((a["org_id"], a["state"], a["instruction"]) for a in body["assignments"])
    assert (housing.id, AssignmentState.ASSIGNED, "请住建委牵头") in states
    assert (city.departments[0].id, AssignmentState.WITHDRAWN, None) in states
    events = api.get(f"/api/v1/cases/{case.id}/events", "cc_s1").json()
    assert [e["trigger"] for e in events][-2:] == [Trigger.REASSIGN, Trigger.WITHDRAW]
    # The withdrawn department no longer sees the case.
    assert api.get(f"/api/v1/cases/{case.id}", "dept_um").status_code == 200  # its old task
    assert api.get(f"/api/v1/cases/{case.id}", "dept_housing").status_code == 200


@pytest.mark.parametrize(
    ("who", "fields", "status", "says"),
    [
        ("cc_s1", {"reason": "原部门不对口"}, 422, "lead"),
        ("cc_s1", {"lead": "x", "reason": "原部门不对口"}, 422, "lead"),
        ("cc_s1", {"lead": "{housing}"}, 422, "reason"),
        ("cc_s1", {"lead": "{housing}", "reason": "原" * 2001}, 422, "reason"),
        ("cc_s1", {"lead": "{housing}", "reason": "原部门", "extra": 1}, 422, "extra"),
        ("cc_s1", {"lead": "{housing}", "reason": "原部门", "version": 0}, 409, "version"),
        ("cc_s2", {"lead": "{housing}", "reason": "原部门"}, 404, "not found"),
        ("dept_um", {"lead": "{housing}", "reason": "原部门"}, 403, "may not fire"),
        ("assessor", {"lead": "{housing}", "reason": "原部门"}, 403, "may not fire"),
    ],
)
def test_reassign__bad_requests_answer_a_problem_and_change_nothing(
    api, session, session_factory, rt, city, clock, who, fields, status, says
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    fields = {k: city.departments[2].id if v == "{housing}" else v for k, v in fields.items()}
    before = row_counts(session_factory)
    response = _move(api, case.id, who, Trigger.REASSIGN, **fields)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert says in response.json()["detail"]
    assert row_counts(session_factory) == before


def test_add_assisting__over_http_adds_the_department(api, session, rt, city, clock):
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    response = _move(api, case.id, "cc_s1", Trigger.ADD_ASSISTING, assisting=[housing.id])
    assert response.status_code == 200, response.text
    added = [a for a in response.json()["assignments"] if a["org_id"] == housing.id]
    assert [(a["role"], a["state"]) for a in added] == [("assisting", AssignmentState.ASSIGNED)]
    again = _move(api, case.id, "cc_s1", Trigger.ADD_ASSISTING, assisting=[housing.id])
    assert again.status_code == 422
    assert "already has an open task" in again.json()["detail"]


def test_manual_supervise__over_http_is_in_the_inbox_and_the_timeline(
    api, session, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    response = _move(api, case.id, "cc_s1", Trigger.MANUAL_SUPERVISE, reason="久拖未办")
    assert response.status_code == 200, response.text
    inbox = api.get("/api/v1/notifications", "dept_um").json()
    items = inbox["items"] if isinstance(inbox, dict) else inbox
    assert [(n["kind"], n["case_id"]) for n in items] == [(Trigger.SUPERVISE, case.id)]
    events = api.get(f"/api/v1/cases/{case.id}/events", "dept_um").json()
    assert events[-1]["trigger"] == Trigger.MANUAL_SUPERVISE
    assert events[-1]["payload"]["reason"] == "久拖未办"
    # The assisting department's timeline does not carry another department's supervision.
    helper_events = api.get(f"/api/v1/cases/{case.id}/events", "dept_water").json()
    assert Trigger.MANUAL_SUPERVISE not in [e["trigger"] for e in helper_events]


@pytest.mark.parametrize(
    ("who", "fields", "status"),
    [
        ("cc_s1", {}, 422),
        ("cc_s1", {"reason": "请尽快", "assignment_id": 99_999}, 422),
        ("cc_s1", {"reason": "请尽快", "assignment_id": [1]}, 422),
        ("cc_s2", {"reason": "请尽快"}, 404),
        ("dept_um", {"reason": "请尽快"}, 403),
        ("resident", {"reason": "请尽快"}, 403),
    ],
)
def test_manual_remind__bad_requests_answer_a_problem_and_change_nothing(
    api, session, session_factory, rt, city, clock, who, fields, status
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)
    response = _move(api, case.id, who, Trigger.MANUAL_REMIND, **fields)
    assert response.status_code == status, response.text
    assert row_counts(session_factory) == before


def test_bulk_dispatch__answers_which_went_and_which_failed_and_why(api, session, rt, city, clock):
    ok = make_case(session, rt, city, clock, state=CaseState.REPORTED, category_id=city.category.id)
    stale = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    foreign = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    body = {
        "cases": [
            {"id": ok.id, "version": ok.version},
            {"id": stale.id, "version": stale.version + 5},
            {"id": foreign.id},
        ],
        "instruction": "请按职责办理",
    }
    response = api.post("/api/v1/cases/dispatch", "cc_s1", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["dispatched"], out["failed"]) == (1, 2)
    got = [(r["case_id"], r["dispatched"], r["failure"]) for r in out["results"]]
    assert got == [
        (ok.id, True, None),
        (stale.id, False, "stale"),
        (foreign.id, False, "not_found"),
    ]
    assert out["results"][0]["lead"] == city.departments[0].id
    assert api.get(f"/api/v1/cases/{ok.id}", "cc_s1").json()["state"] == CaseState.ASSIGNED
    assert api.get(f"/api/v1/cases/{stale.id}", "cc_s1").json()["state"] == CaseState.REPORTED


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"cases": []}, 422),
        ({"cases": [{"id": "x"}]}, 422),
        ({"cases": [{"id": 0}]}, 422),
        ({"cases": [{"id": 1, "extra": True}]}, 422),
        ({"cases": [{"id": i} for i in range(1, 102)]}, 422),
        ({"cases": [{"id": 1}, {"id": 1}]}, 422),
        ({"cases": [{"id": 1}], "lead": "abc"}, 422),
        ({"cases": [{"id": 1}], "instruction": "长" * 2001}, 422),
        ({"cases": [{"id": 1}], "assisting": list(range(1, 30))}, 422),
        ({"cases": [{"id": 1}], "unknown": 1}, 422),
    ],
)
def test_bulk_dispatch__a_wrong_request_answers_422_and_dispatches_nothing(
    api, session, session_factory, rt, city, clock, body, status
):
    make_case(session, rt, city, clock, state=CaseState.REPORTED)
    before = row_counts(session_factory)
    response = api.post("/api/v1/cases/dispatch", "cc_s1", json=body)
    assert response.status_code == status, response.text
    assert row_counts(session_factory) == before


def test_bulk_dispatch__without_a_token_is_401_and_a_department_dispatches_nothing(
    api, session, session_factory, rt, city, clock
):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    body = {"cases": [{"id": case.id}], "lead": city.departments[0].id}
    assert api.post("/api/v1/cases/dispatch", None, json=body).status_code == 401
    before = row_counts(session_factory)
    response = api.post("/api/v1/cases/dispatch", "dept_um", json=body)
    assert response.status_code == 200
    assert response.json()["results"][0]["failure"] == "not_found"
    assert row_counts(session_factory) == before
