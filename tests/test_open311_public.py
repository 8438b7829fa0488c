"""Open311 as a client written from the spec sees it: public reads, discovery, jurisdiction_id,
errors as arrays with 400/404, and a bounded schemathesis run of the official Swagger description.

Public answers are validated against the official JSON Schemas (``../shared/specs/open311``), in
JSON and in XML read back with ``api.open311.formats.read_xml``.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from engine.case.models import Case
from tests.fixtures_api import row_counts
from tests.test_open311 import (
    ERRORS_SCHEMA,
    FORMATS,
    UPDATES_SCHEMA,
    _spec,
    assert_valid,
    body_of,
    key,
)
from tests.test_open311 import pytestmark as _needs_specs

pytestmark = _needs_specs

PERSONAL = (
    "王建国反映：东华门大街路灯不亮，电话13812341234，车牌京A·D12345挡路，"
    "邮箱wjg@example.com，身份证110105194912310021"
)
REDACTED = (
    "[姓名]反映：东华门大街路灯不亮，电话[电话]，车牌[车牌]挡路，邮箱[邮箱]，身份证[身份证号]"
)
DISCOVERY_SCHEMA = {
    "type": "object",
    "required": ["changeset", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": ["string", "null"]},
        "key_service": {"type": ["string", "null"]},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


@pytest.fixture
def raised(api, session) -> int:
    """A request raised through Open311 by the residents' app, with personal data in its text."""
    form = key(api) | {
        "service_code": "CITY", "address_id": "G1", "lat": "39.916345", "long": "116.397155",
        "address_string": "东城区东华门大街12号3单元401室", "description": PERSONAL,
        "first_name": "建国", "last_name": "王", "phone": "13812341234",
    }  # fmt: skip
    response = api.post("/open311/v2/requests.json", None, data=form)
    assert response.status_code == 200
    return int(response.json()[0]["service_request_id"])


def _settings(api):
    return api.app.state.settings


# -- public reads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_read__the_request_just_created_reads_back_without_a_key(api, raised, fmt):
    for path in (f"/open311/v2/requests/{raised}.{fmt}", f"/open311/v2/request/{raised}.{fmt}"):
        response = api.get(path, None)
        assert response.status_code == 200
        body = body_of(response, fmt)
        assert_valid(body, "requests.json")
        assert [r["service_request_id"] for r in body] == [str(raised)]
        assert body[0]["description"] == REDACTED
        assert body[0]["address"] == "东城区东华门大街12号3单元401室"
        assert (body[0]["lat"], body[0]["long"]) == (39.916345, 116.397155)


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_read__carries_nothing_of_the_reporter(api, raised, fmt):
    text = api.get(f"/open311/v2/requests.{fmt}", None).text
    for secret in ("13812341234", "王建国", "建国", "wjg@example.com", "D12345", "1949123100"):
        assert secret not in text


@pytest.mark.parametrize(
    "params",
    [{}, {"service_code": "CITY"}, {"status": "open"}, {"service_request_id": "{id}"}],
    ids=["all", "by-service", "by-status", "by-id"],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_public_read__the_filtered_list_holds_the_new_request(api, raised, params, fmt):
    query = {k: v.format(id=raised) for k, v in params.items()}
    body = body_of(api.get(f"/open311/v2/requests.{fmt}", None, params=query), fmt)
    assert_valid(body, "requests.json")
    assert str(raised) in [r["service_request_id"] for r in body]


def test_keyed_read__keeps_the_callers_own_scope_and_the_full_text(api, raised):
    own = api.get(f"/open311/v2/requests/{raised}.json", None, params=key(api)).json()
    assert own[0]["description"] == PERSONAL
    hidden = api.get(f"/open311/v2/requests/{raised}.json", None, params=key(api, "cc_s2"))
    assert hidden.status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_read__a_forged_key_is_403_not_a_public_read(api, raised, fmt):
    response = api.get(f"/open311/v2/requests.{fmt}", None, params={"api_key": "forged"})
    assert response.status_code == 403
    assert_valid(body_of(response, fmt), ERRORS_SCHEMA)


@pytest.mark.parametrize(
    ("location", "address", "position"),
    [
        ("coarse", "东城区东华门大街", (39.916, 116.397)),
        ("area", None, (None, None)),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_public_read__the_location_setting_coarsens_the_place(
    api, raised, location, address, position, fmt
):
    _settings(api).open311_public_location = location
    body = body_of(api.get(f"/open311/v2/requests/{raised}.{fmt}", None), fmt)
    assert_valid(body, "requests.json")
    assert body[0]["address"] == address
    assert (body[0]["lat"], body[0]["long"]) == position
    assert body[0]["address_id"] == "G1"
    keyed = api.get(f"/open311/v2/requests/{raised}.json", None, params=key(api)).json()
    assert keyed[0]["address"] == "东城区东华门大街12号3单元401室"


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{id}.{fmt}",
        "/open311/v2/servicerequestupdates.{fmt}",
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_public_reads_off__answer_403_without_a_key_and_still_serve_keys(api, raised, path, fmt):
    _settings(api).open311_public_reads = False
    url = path.format(id=raised, fmt=fmt)
    response = api.get(url, None)
    assert response.status_code == 403
    body = body_of(response, fmt)
    assert_valid(body, ERRORS_SCHEMA)
    assert body[0]["description"] == "api_key: required (public reads are turned off here)"
    assert api.get(url, None, params=key(api)).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_updates__list_the_states_of_any_request(api, raised, fmt):
    params = {"service_request_id": str(raised)}
    body = body_of(api.get(f"/open311/v2/servicerequestupdates.{fmt}", None, params=params), fmt)
    assert_valid(body, UPDATES_SCHEMA)
    assert [(u["service_request_id"], u["status"]) for u in body] == [(str(raised), "open")]


# -- errors: 400 for a bad parameter, 404 for an unknown id, never 403 or 500 ------------------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/open311/v2/requests/999999.{fmt}", {}, 404),
        ("/open311/v2/requests/%C2%B2.{fmt}", {}, 404),  # '²' passes str.isdigit()
        ("/open311/v2/requests/%D9%A1.{fmt}", {}, 404),  # Arabic-Indic one is not id 1
        ("/open311/v2/request/abc.{fmt}", {}, 404),
        ("/open311/v2/requests.{fmt}", {"start_date": "yesterday"}, 400),
        ("/open311/v2/requests.{fmt}", {"end_date": "0001-01-01T00:00:00"}, 400),
        ("/open311/v2/requests.{fmt}", {"start_date": "9999-12-31T23:59:59"}, 400),
        ("/open311/v2/requests.{fmt}", {"service_request_id": "1,²"}, 400),
        ("/open311/v2/requests.{fmt}", {"service_request_id": "١"}, 400),
        ("/open311/v2/requests.{fmt}", {"status": "pending"}, 400),
        ("/open311/v2/servicerequestupdates.{fmt}", {"end_date": "0001-01-01T00:00:00"}, 400),
        ("/open311/v2/servicerequestupdates.{fmt}", {"start_date": "0001-01-01"}, 400),
        ("/open311/v2/servicerequestupdates.{fmt}", {"service_request_id": "²"}, 400),
    ],
)
@pytest.mark.parametrize("who", [None, "cc_s1"], ids=["public", "keyed"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_parameters_and_unknown_ids__are_400_and_404_error_arrays_changing_nothing(
    api, raised, session_factory, path, params, status, who, fmt
):
    before = row_counts(session_factory)
    query = params | (key(api, who) if who else {})
    response = api.get(path.format(fmt=fmt), None, params=query)
    assert response.status_code == status
    body = body_of(response, fmt)
    assert_valid(body, ERRORS_SCHEMA)
    assert body[0]["code"] == status
    assert row_counts(session_factory) == before


def test_the_arabic_indic_one__is_not_read_as_request_1(api, raised, session):
    assert session.get(Case, 1) is not None
    response = api.get("/open311/v2/requests.json", None, params={"service_request_id": "١"})
    assert response.status_code == 400


# -- discovery and jurisdiction_id -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/open311/discovery.{fmt}", "/open311/v2/discovery.{fmt}"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery__names_the_endpoint_its_formats_and_contacts(api, path, fmt):
    _settings(api).open311_contact = "青川区12345热线 open311@example.org"
    body = body_of(api.get(path.format(fmt=fmt), None), fmt)
    assert_valid(body, DISCOVERY_SCHEMA)
    (endpoint,) = body["endpoints"]
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert body["contact"] == "青川区12345热线 open311@example.org"
    assert body["key_service"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_jurisdiction_id__is_accepted_and_one_not_served_is_404(api, raised, fmt):
    url = f"/open311/v2/requests.{fmt}"
    assert api.get(url, None, params={"jurisdiction_id": "anything"}).status_code == 200
    _settings(api).open311_jurisdiction = "qingchuan.example.org"
    ok = api.get(url, None, params={"jurisdiction_id": "qingchuan.example.org"})
    assert ok.status_code == 200
    assert str(raised) in [r["service_request_id"] for r in body_of(ok, fmt)]
    other = api.get(url, None, params={"jurisdiction_id": "sfgov.org"})
    assert other.status_code == 404
    body = body_of(other, fmt)
    assert_valid(body, ERRORS_SCHEMA)
    assert body[0]["description"] == "jurisdiction_id: 'sfgov.org' is not served here"
    services = api.get(f"/open311/v2/services.{fmt}", None, params={"jurisdiction_id": "x"})
    assert services.status_code == 404


def test_jurisdiction_id__not_served_on_a_post_is_404_and_writes_nothing(
    api, services_city, session_factory
):
    _settings(api).open311_jurisdiction = "qingchuan.example.org"
    before = row_counts(session_factory)
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    response = api.post(
        "/open311/v2/requests.json", None, data=form, params={"jurisdiction_id": "sfgov.org"}
    )
    assert response.status_code == 404
    assert row_counts(session_factory) == before


@pytest.fixture
def services_city(api, city):
    return city


# -- the official Swagger description, driven by schemathesis ----------------------------------

EXAMPLES = 15
TIME_BUDGET = 60.0  # seconds for the whole run; examples past it are not sent


def _official_operations(app: Any) -> list[Any]:
    """The GET operations of the spec's Swagger description, sent to ``app`` in process."""
    raw = copy.deepcopy(_spec("swagger.json"))
    raw["basePath"] = "/open311/v2"
    # The description types the format as any text; naming the two the spec defines lets the
    # positive run reach the handlers (the negative run still sends every other text).
    raw["parameters"]["response_format"]["enum"] = ["json", "xml"]
    schema = schemathesis.openapi.from_dict(raw).include(method="GET")
    schema.app = app
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_official_swagger__its_get_paths_find_no_server_error(api, raised, mode):
    operations = _official_operations(api.app)
    paths = sorted(op.path for op in operations)
    assert "/request/{service_request_id}.{response_format}" in paths
    assert len(paths) == 5
    deadline = time.monotonic() + TIME_BUDGET
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case):
            if time.monotonic() > deadline:
                return
            response = case.call()
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500

        no_server_error()
    # The run reached the handlers, not only the parameter checks in front of them.
    assert statuses[200] > 0 if mode == GenerationMode.POSITIVE else statuses[400] > 0
    assert sum(statuses.values()) >= 20
