"""Our own OpenAPI, checked by property: schemathesis generates requests for every read and for
raising a case, bounded to a few examples each; no answer is a 5xx, and every answer matches the
status codes, media types and schemas the document declares.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.vocabulary import CaseState
from tests.builders import make_case

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def operations(api, session, rt, city, clock):
    """Every GET operation and raising a case, with a case in several states to be found."""
    for state in (CaseState.REPORTED, CaseState.ASSIGNED, CaseState.RESOLVED):
        make_case(session, rt, city, clock, state=state)
    schema = (
        schemathesis.openapi.from_asgi("/openapi.json", api.app)
        .include(method="GET")
        .include(method="POST", path="/api/v1/cases")
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi__no_server_errors_and_every_answer_matches_the_document(api, operations, mode):
    # pytest 9 no longer has the node attribute schemathesis' own pytest loader rewrites, so the
    # operations are driven here with Hypothesis directly: the same strategies and checks.
    headers = {"Authorization": f"Bearer {api.tokens['cc_district']}"}
    assert len(operations) >= 15
    for operation in operations:
        inputs = [operation.path_parameters, operation.query, operation.headers, operation.body]
        if mode == GenerationMode.NEGATIVE and not any(len(i) for i in inputs):
            continue  # nothing to send wrong

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        conforms()


def test_openapi__serves_the_document_and_the_docs_page(api):
    document = api.client.get("/openapi.json").json()
    assert document["info"]["title"] == "Whistle API"
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs__pages_load_every_asset_from_this_server_and_nothing_from_another(api, page):
    html = api.client.get(page)
    assert html.status_code == 200

    links = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert links, html.text
    assert not [u for u in links if "//" in u or not u.startswith("/")]  # no CDN, no fonts
    assert "fonts.googleapis" not in html.text
    for url in links:
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_favicon__is_served_and_the_console_links_it(api):
    icon = api.client.get("/favicon.ico")

    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in icon.text
    assert '<link rel="icon" href="/favicon.ico"' in api.client.get("/console/login").text
