"""Item 10 of the hardening issue: the server accepts what the OpenAPI document says, and answers
as it documents (the longer property-based run is tests/test_api_schemathesis.py).
"""

from __future__ import annotations

import pytest


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
