"""A bounded property-based run of our own OpenAPI over every operation, for an admin and for a
department token, positive and negative data: no 5xx, and every answer as documented.

Bounded by ``WHISTLE_SCHEMATHESIS_EXAMPLES`` examples per operation and mode (3 in the suite; CI
runs a longer pass as its own step, on SQLite, within a couple of minutes). Derandomized, so a
failure reproduces.
"""

from __future__ import annotations

import os

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

EXAMPLES = int(os.environ.get("WHISTLE_SCHEMATHESIS_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def operations(api, session, rt, city, clock):
    """Every operation of the document, with cases in several states to be found."""
    for state in (CaseState.REPORTED, CaseState.ASSIGNED, CaseState.RESOLVED):
        make_case(session, rt, city, clock, state=state)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("who", ["admin", "dept_um"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi__every_operation_answers_as_documented_and_never_5xx(api, operations, who, mode):
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    assert len(operations) >= 30
    for operation in operations:
        inputs = [operation.path_parameters, operation.query, operation.headers, operation.body]
        if mode == GenerationMode.NEGATIVE and not any(len(i) for i in inputs):
            continue  # nothing to send wrong

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        conforms()
