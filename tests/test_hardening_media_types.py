"""Item 10 of the hardening issue, continued: a body in another media type than the operation
takes is a 415 that writes nothing, and the document says so wherever a body is taken."""

from __future__ import annotations

import json

import pytest

from api.problems import MEDIA_TYPE, TYPE_PREFIX
from engine.vocabulary import CaseState, Trigger
from tests.builders import make_case, png_file
from tests.fixtures_api import row_counts

UNSUPPORTED = TYPE_PREFIX + "unsupported-media-type"


def assert_415(answer, takes: str) -> None:
    assert answer.status_code == 415, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert answer.json()["type"] == UNSUPPORTED
    assert f"this operation takes {takes}" in answer.json()["detail"]


def raise_body(city) -> dict:
    return {"title": "井盖丢失", "description": "景山前街3号井盖丢失", "area_id": city.grids[0].id}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"],
)
def test_raise__a_json_body_sent_as_another_type_is_415_and_writes_nothing(
    api, city, session_factory, content_type
):
    before = row_counts(session_factory)

    answer = api.post("/api/v1/cases", "resident", content=json.dumps(raise_body(city)),
                      headers={"Content-Type": content_type})  # fmt: skip

    assert_415(answer, "application/json")
    assert row_counts(session_factory) == before


def test_raise__a_body_without_a_content_type_is_415(api, city, session_factory):
    before = row_counts(session_factory)
    body = json.dumps(raise_body(city)).encode()

    answer = api.client.post("/api/v1/cases", content=body, headers=api.headers("resident"))

    assert "content-type" not in answer.request.headers
    assert_415(answer, "application/json")
    assert row_counts(session_factory) == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/problem+json"]
)
def test_raise__json_and_its_suffixed_types_are_taken(api, city, content_type):
    answer = api.post("/api/v1/cases", "resident", content=json.dumps(raise_body(city)),
                      headers={"Content-Type": content_type})  # fmt: skip

    assert answer.status_code == 201, answer.text


def test_transition__sent_as_a_form_is_415_before_the_body_is_read_as_fields(
    api, session, rt, city, clock, session_factory
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/transitions", "cc_s1",
                      data={"trigger": Trigger.CANCEL, "reason": "重复受理"})  # fmt: skip

    assert_415(answer, "application/json")
    assert row_counts(session_factory) == before


def test_evidence__sent_as_json_is_415_and_stores_nothing(
    api, session, rt, city, clock, session_factory, api_settings
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1", json={"file": "photo.png"})

    assert_415(answer, "multipart/form-data")
    assert row_counts(session_factory) == before
    assert not (api_settings.data_dir / "evidence").exists()


def test_evidence__a_file_of_a_type_not_taken_is_415_naming_the_types_taken(
    api, session, rt, city, clock, session_factory, api_settings
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1",
                      files={"file": ("page.html", b"<html></html>", "text/html")})  # fmt: skip

    assert answer.status_code == 415, answer.text
    assert answer.json()["type"] == UNSUPPORTED
    assert "'text/html' is not one of" in answer.json()["detail"]
    assert row_counts(session_factory) == before
    assert not (api_settings.data_dir / "evidence").exists()


def test_evidence__a_png_in_multipart_is_taken(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)

    answer = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1",
                      files={"file": ("p.png", png_file(), "image/png")})  # fmt: skip

    assert answer.status_code == 201, answer.text


def test_a_write_without_a_body__minds_no_content_type(api):
    answer = api.post("/api/v1/notifications/999/read", "dept_um",
                      headers={"Content-Type": "text/plain"})  # fmt: skip

    assert answer.status_code == 404, answer.text


def test_document__every_operation_taking_a_body_documents_415_for_its_own_type(api):
    document = api.client.get("/openapi.json").json()
    taking = 0
    for path, operations in document["paths"].items():
        if path.startswith("/open311/"):
            continue
        for method, operation in operations.items():
            if "requestBody" in operation:
                taking += 1
                assert {"400", "413", "415", "422"} <= set(operation["responses"]), (method, path)
                assert list(operation["responses"]["415"]["content"]) == [MEDIA_TYPE]
    assert taking >= 5
    evidence = document["paths"]["/api/v1/cases/{case_id}/evidence"]["post"]
    assert list(evidence["requestBody"]["content"]) == ["multipart/form-data"]


def test_evidence__a_broken_multipart_body_is_400_and_stores_nothing(
    api, session, rt, city, clock, session_factory, api_settings
):
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1", content=b"--x\r\nbroken",
                      headers={"Content-Type": "multipart/form-data"})  # fmt: skip

    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    assert row_counts(session_factory) == before
    assert not (api_settings.data_dir / "evidence").exists()
