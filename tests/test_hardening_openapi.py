"""Item 10 of the hardening issue: the server accepts what the OpenAPI document says, and answers
as it documents (the longer property-based run is tests/test_api_schemathesis.py).
"""

from __future__ import annotations

import pytest

from engine.case.payloads import FIRED_ON, PAYLOADS
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, Role, Subject, Trigger
from engine.workflow.loader import WorkflowRegistry
from tests.builders import assignments_of, make_case
from tests.fixtures_api import row_counts


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", " 12 "])
def test_case_list__a_number_for_a_date_time_is_a_422_not_a_1970_date(api, value):
    answer = api.get("/api/v1/cases", "cc_s1", params={"created_to": value})

    assert answer.status_code == 422, answer.text
    assert "RFC 3339" in answer.json()["detail"]


def test_case_list__an_rfc_3339_date_time_is_taken(api):
    answer = api.get("/api/v1/cases", "cc_s1", params={"created_to": "2026-03-01T00:00:00+08:00"})

    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/cases", "GET, HEAD, POST"),
        ("PUT", "/healthz", "GET, HEAD"),
        ("PATCH", "/api/v1/cases/1/transitions", "POST"),
    ],
)
def test_method_not_allowed__names_every_allowed_method(api, method, path, allow):
    answer = api.client.request(method, path, headers=api.headers("cc_s1"))

    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert answer.headers["content-type"] == "application/problem+json"


def test_document__bodies_document_400_413_and_every_operation_503(api):
    document = api.client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if path.startswith("/open311/"):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "503" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)


# -- the transition bodies: one documented shape per trigger ---------------------------------

TRANSITIONS = {
    Subject.CASE: "/api/v1/cases/{case_id}/transitions",
    Subject.ASSIGNMENT: "/api/v1/assignments/{assignment_id}/transitions",
}


def body_schema(document: dict, subject: Subject) -> dict:
    operation = document["paths"][TRANSITIONS[subject]]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rpartition("/")[2]]


@pytest.mark.parametrize("subject", list(TRANSITIONS))
def test_document__a_transition_body_is_one_of_a_shape_per_trigger_told_apart_by_its_name(
    api, subject
):
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    union = body_schema(document, subject)

    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "trigger"
    assert list(mapping) == sorted(FIRED_ON[subject])
    assert sorted(v["$ref"] for v in union["oneOf"]) == sorted(mapping.values())
    for trigger, ref in mapping.items():
        shape = schemas[ref.rpartition("/")[2]]
        model = PAYLOADS[Trigger(trigger)]
        assert shape["additionalProperties"] is False
        assert shape["properties"]["trigger"]["const"] == trigger
        assert set(shape["properties"]) == {*model.model_fields, "trigger", "version"}
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert set(shape["required"]) == required | {"trigger"}


def test_document__names_the_fields_of_a_trigger_with_their_bounds(api):
    document = api.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    dispatch = schemas["DispatchTransition"]["properties"]
    complete = schemas["CompleteTransition"]["properties"]
    rate = schemas["RateTransition"]

    assert dispatch["assisting"]["maxItems"] == 20
    assert complete["evidence"]["items"] == {"type": "string", "minLength": 1, "maxLength": 500}
    assert set(rate["required"]) == {"trigger", "solved"}
    assert schemas["CancelTransition"]["properties"]["reason"]["minLength"] == 2


def test_documented_triggers__are_every_trigger_people_fire_in_the_built_in_workflows():
    for workflow in WorkflowRegistry.load():
        for subject in TRANSITIONS:
            fired = {
                name
                for name, spec in workflow.machine(subject).spec.triggers.items()
                if spec.roles != [Role.SYSTEM]
            }
            assert fired <= set(FIRED_ON[subject]), (workflow.name, subject)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trigger": "cancel", "reason": "重复受理", "lead": 5}, "lead"),
        ({"trigger": "cancel", "reason": "重复受理", "payload": {}}, "payload"),
        ({"trigger": "cancel"}, "reason"),
        ({"trigger": "cancel", "reason": 12}, "reason"),
    ],
)
def test_case_transition__a_field_the_document_does_not_give_the_trigger_is_a_422_naming_it(
    api, session, rt, city, clock, session_factory, body, field
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/transitions", "cc_s1", json=body)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"].startswith(f"'cancel' payload: {field}")
    assert row_counts(session_factory) == before


def test_assignment_transition__a_body_as_documented_is_taken(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)

    body = {"trigger": "accept", "note": "收到", "version": lead.version}

    answer = api.post(f"/api/v1/assignments/{lead.id}/transitions", "dept_um", json=body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["assignment"]["state"] == AssignmentState.ACCEPTED
