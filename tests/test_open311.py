"""Open311 GeoReport v2: every endpoint in JSON and XML, validated against the spec's JSON Schemas.

XML answers are read back with ``api.open311.formats.read_xml`` — the same reader that parses
other cities' real GeoReport responses (``shared/data/open311``) in the last tests — and then
validated with the same schemas as the JSON answers.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from sqlalchemy import event, select

from api.open311.formats import read_xml
from api.open311.mapping import stamp
from engine.case.models import Case
from engine.deadline.models import Deadline
from engine.demo.city import SHARED_DATA
from engine.organisation.models import Category
from engine.vocabulary import CaseState, DeadlineState, Source
from tests.builders import make_case
from tests.fixtures_api import row_counts

SHARED = SHARED_DATA.parent
SPECS = SHARED / "specs" / "open311"
REAL = SHARED / "data" / "open311"
pytestmark = pytest.mark.skipif(
    not SPECS.is_dir(), reason=f"the Open311 JSON Schemas are not at {SPECS} (../shared/specs)"
)
FORMATS = ["json", "xml"]

# The spec has no schema for these two documents; these follow the GeoReport v2 wiki.
ERRORS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}
UPDATES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["update_id", "service_request_id", "status", "updated_datetime"],
        "properties": {
            "update_id": {"type": "string"},
            "service_request_id": {"type": "string"},
            "status": {"enum": ["open", "closed"]},
            "updated_datetime": {"type": "string"},
            "description": {"type": ["string", "null"]},
        },
    },
}


def _spec(name: str) -> dict[str, Any]:
    return json.loads((SPECS / name).read_text(encoding="utf-8"))


def validator(schema: str | dict[str, Any]) -> Draft7Validator:
    """A validator for a spec file (its $refs to sibling files resolved) or an inline schema."""
    registry: Registry = Registry().with_resources(
        (p.name, Resource.from_contents(_spec(p.name), default_specification=DRAFT7))
        for p in SPECS.glob("*.json")
        if p.name != "swagger.json"
    )
    if isinstance(schema, str):
        schema = _spec(schema)
    return Draft7Validator(schema, registry=registry)


def post_response_schema() -> dict[str, Any]:
    """The swagger's RequestResponse, as an array (the POST answers a list of one)."""
    definition = _spec("swagger.json")["definitions"]["RequestResponse"]
    return {"type": "array", "minItems": 1, "items": definition}


def body_of(response, fmt: str) -> Any:
    """The answer as JSON-like values, whichever format it came in."""
    if fmt == "xml":
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
        return read_xml(response.content)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def assert_valid(body: Any, schema: str | dict[str, Any]) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator(schema).iter_errors(body)]
    assert errors == []


def assert_w3c_times(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
            if request.get(field) is not None:
                assert datetime.fromisoformat(request[field]).utcoffset() is not None


@pytest.fixture
def services(api, session, city):
    """The city's categories, one with attributes of every kind the definitions use."""
    city.sub_category.attributes = [
        {"code": "pole", "datatype": "string", "required": True, "description": "灯杆编号"},
        {
            "code": "state", "datatype": "singlevaluelist", "required": False,
            "description": "故障情况",
            "values": [{"key": "dark", "name": "不亮"}, {"key": "flicker", "name": "闪烁"}],
        },
    ]  # fmt: skip
    session.commit()
    return city


def key(api, who: str = "resident") -> dict[str, str]:
    return {"api_key": api.tokens[who]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_services__validate_and_list_every_category(api, services, fmt):
    body = body_of(api.get(f"/open311/v2/services.{fmt}", None), fmt)
    assert_valid(body, "services.json")
    assert [(s["service_code"], s["service_name"], s["metadata"]) for s in body] == [
        ("CITY", "城市管理", False),
        ("CITY-LIGHT", "路灯", True),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition__validates_and_carries_the_categorys_attributes(api, services, fmt):
    body = body_of(api.get(f"/open311/v2/services/CITY-LIGHT.{fmt}", None), fmt)
    assert_valid(body, "service-definition.json")
    assert [(a["code"], a["required"], a["order"]) for a in body["attributes"]] == [
        ("pole", True, 1),
        ("state", False, 2),
    ]
    assert body["attributes"][1]["values"] == [
        {"key": "dark", "name": "不亮"},
        {"key": "flicker", "name": "闪烁"},
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition__of_an_unknown_code_is_404_as_an_error_array(api, fmt):
    response = api.get(f"/open311/v2/services/NOPE.{fmt}", None)
    assert response.status_code == 404
    body = body_of(response, fmt)
    assert_valid(body, ERRORS_SCHEMA)
    assert body[0]["code"] == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_request__raises_a_case_and_answers_its_id_and_a_notice(api, services, session, fmt):
    form = key(api) | {
        "service_code": "CITY-LIGHT", "address_id": "G1", "lat": "39.9163", "long": "116.3972",
        "description": "东华门大街路灯不亮", "attribute[pole]": "DH-0042",
        "attribute[state]": "dark", "first_name": "三", "last_name": "张", "phone": "13812341234",
    }  # fmt: skip
    response = api.post(f"/open311/v2/requests.{fmt}", None, data=form)
    assert response.status_code == 200
    body = body_of(response, fmt)
    assert_valid(body, post_response_schema())
    case = session.get(Case, int(body[0]["service_request_id"]))
    assert (case.state, case.source, case.area_id) == (
        CaseState.REPORTED, Source.APP, api.city.grids[0].id,
    )  # fmt: skip
    assert (case.reporter_name, case.reporter_phone) == ("张三", "13812341234")
    assert case.description == "东华门大街路灯不亮\n灯杆编号: DH-0042\n故障情况: dark"
    assert "派单时限" in body[0]["service_notice"]


def test_post_request__the_notice_names_the_dispatch_clock_as_stored(api, services, session):
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    body = api.post("/open311/v2/requests.json", None, data=form).json()
    case_id = int(body[0]["service_request_id"])
    due = session.scalar(
        select(Deadline.due_at).where(
            Deadline.case_id == case_id, Deadline.clock == "dispatch",
            Deadline.state == DeadlineState.OPEN,
        )
    )  # fmt: skip
    assert due is not None
    zone = ZoneInfo(api.app.state.settings.timezone)
    assert body[0]["service_notice"] == f"已受理 Received; 派单时限 dispatch by {stamp(due, zone)}"


def test_post_request__over_the_intake_limit_is_429_writes_nothing_and_gives_back_connections(
    api, services, session_factory, engine
):
    checked_out = engine.pool.checkedout()
    api.app.state.limiter.limit = 1
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    assert api.post("/open311/v2/requests.json", None, data=form).status_code == 200
    before = row_counts(session_factory)
    over = api.post("/open311/v2/requests.json", None, data=form)
    assert over.status_code == 429
    assert_valid(over.json(), ERRORS_SCHEMA)
    assert row_counts(session_factory) == before
    assert engine.pool.checkedout() == checked_out


# The key's lookup (on PostgreSQL it also takes the case's id) and the raise (one statement on
# PostgreSQL; the case, its event and its clock on SQLite): the service and the area are found
# in the organisation snapshot, and the answer is made from the case as written.
POST_BUDGET = {"sqlite": 4, "postgresql": 2}


def _post_counting(api, session, form) -> tuple[int, int]:
    """The answer's status and the statements the request sent."""
    engine = session.get_bind().engine
    sent = []
    listener = lambda *_args: sent.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        status = api.post("/open311/v2/requests.json", None, data=form).status_code
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return status, len(sent)


def test_post_request__stays_within_its_statement_budget(api, services, session, is_postgres):
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    api.post("/open311/v2/requests.json", None, data=form)  # the organisation snapshot is read
    status, sent = _post_counting(api, session, form)
    assert status == 200
    assert sent <= POST_BUDGET["postgresql" if is_postgres else "sqlite"]


def test_post_request__an_unknown_code_costs_one_small_read_not_a_reading_of_the_organisation(
    api, services, session
):
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    api.post("/open311/v2/requests.json", None, data=form)  # the organisation snapshot is read
    status, sent = _post_counting(api, session, form | {"service_code": "NOPE"})
    # The key's lookup, then the stored version (unchanged): no nodes, categories or rules.
    assert (status, sent) == (400, 2)


def test_post_request__sees_a_service_added_after_its_snapshot(api, services, session):
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    assert api.post("/open311/v2/requests.json", None, data=form).status_code == 200
    session.add(Category(code="CITY-TREE", name_zh="树木", name_en="Trees", workflow="hotline"))
    session.commit()
    answer = api.post("/open311/v2/requests.json", None, data=form | {"service_code": "CITY-TREE"})
    assert answer.status_code == 200
    case = session.get(Case, int(answer.json()[0]["service_request_id"]))
    assert case.category_id == session.scalar(
        select(Category.id).where(Category.code == "CITY-TREE")
    )


def _require_size(city) -> None:
    city.category.attributes = [
        {"code": "size", "datatype": "string", "required": True, "description": "坑洼大小"}
    ]


def _retire_road(city) -> None:
    city.category.active = False


@pytest.mark.parametrize(
    ("change", "description"),
    [
        pytest.param(
            _require_size, "attribute[size]: required by service CITY", id="attribute-required"
        ),
        pytest.param(_retire_road, "service_code: 'CITY' is not a service", id="service-retired"),
    ],
)
def test_post_request__a_service_changed_after_the_snapshot_is_held_to_its_new_definition(
    api, services, session_factory, session, change, description
):
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    assert api.post("/open311/v2/requests.json", None, data=form).status_code == 200
    change(api.city)  # another process's admin change: this API's snapshot is now behind
    session.commit()
    before = row_counts(session_factory)
    answer = api.post("/open311/v2/requests.json", None, data=form)
    assert answer.status_code == 400
    assert answer.json()[0]["description"] == description
    assert row_counts(session_factory) == before


def test_post_request__with_lat_long_only_goes_to_the_callers_area_or_the_district(
    api, services, session
):
    form = {"service_code": "CITY", "lat": "39.9", "long": "116.4", "description": "路面坑洼"}
    by_resident = api.post("/open311/v2/requests.json", None, data=form | key(api)).json()
    by_grid = api.post("/open311/v2/requests.json", None, data=form | key(api, "grid_c1")).json()
    areas = [
        session.get(Case, int(b[0]["service_request_id"])).area_id for b in (by_resident, by_grid)
    ]
    assert areas == [api.city.district.id, api.city.communities[0].id]


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_request__without_api_key_is_403_as_an_error_array_and_writes_nothing(
    api, services, session_factory, fmt
):
    before = row_counts(session_factory)
    form = {"service_code": "CITY", "address_id": "G1", "description": "路面坑洼"}
    response = api.post(f"/open311/v2/requests.{fmt}", None, data=form)
    assert response.status_code == 403
    body = body_of(response, fmt)
    assert_valid(body, ERRORS_SCHEMA)
    assert body == [{"code": 403, "description": "api_key: required"}]
    assert row_counts(session_factory) == before


AT_G1 = {"service_code": "CITY", "address_id": "G1"}
LIGHT_AT_G1 = {"service_code": "CITY-LIGHT", "address_id": "G1"}


@pytest.mark.parametrize(
    ("form", "status", "description"),
    [
        pytest.param(
            {"api_key": "forged"}, 403, "the token is unknown or revoked", id="forged-key"
        ),
        pytest.param(
            {"service_code": "NOPE", "address_id": "G1"}, 400,
            "service_code: 'NOPE' is not a service", id="unknown-service",
        ),
        pytest.param(
            {"service_code": "CITY"}, 400,
            "a location is required: lat and long, address_string or address_id", id="no-location",
        ),
        pytest.param(
            {"service_code": "CITY", "lat": "39.9"}, 400, "lat and long: give both or neither",
            id="half-a-position",
        ),
        pytest.param(
            {"service_code": "CITY", "address_id": "C9"}, 400,
            "address_id: 'C9' is not an area id or code", id="unknown-area",
        ),
        pytest.param(AT_G1 | {"lat": "north"}, 400, None, id="latitude-not-a-number"),
        pytest.param(
            LIGHT_AT_G1, 400, "attribute[pole]: required by service CITY-LIGHT",
            id="required-attribute-missing",
        ),
        pytest.param(
            LIGHT_AT_G1 | {"attribute[pole]": "1", "attribute[state]": "gone"}, 400,
            "attribute[state]: 'gone' is not one of ['dark', 'flicker']", id="value-not-in-list",
        ),
        pytest.param(
            AT_G1 | {"attribute[colour]": "red"}, 400,
            "attribute: ['colour'] not defined for service CITY", id="undefined-attribute",
        ),
        pytest.param(AT_G1 | {"phone": "call me"}, 400, None, id="bad-phone"),
        pytest.param(
            AT_G1 | {"api_key": "assessor"}, 403, "role 'assessor' may not raise a hotline case",
            id="role-may-not-raise",
        ),
    ],
)  # fmt: skip
def test_post_request__bad_input_is_an_error_array_and_writes_nothing(
    api, services, session_factory, form, status, description
):
    before = row_counts(session_factory)
    fields = key(api) | form
    if fields["api_key"] == "assessor":
        fields["api_key"] = api.tokens["assessor"]
    response = api.post("/open311/v2/requests.json", None, data=fields)
    assert response.status_code == status
    body = response.json()
    assert_valid(body, ERRORS_SCHEMA)
    assert body[0]["code"] == status
    if description is not None:
        assert body[0]["description"] == description
    assert row_counts(session_factory) == before


@pytest.fixture
def requests(api, services, session, rt, city, clock):
    """Three cases in street 1: one reported, one being worked on, one resolved."""
    made = [
        make_case(session, rt, city, clock, category_id=city.sub_category.id),
        make_case(session, rt, city, clock, state=CaseState.REPORTING_IN),
        make_case(session, rt, city, clock, state=CaseState.RESOLVED, category_id=city.category.id),
    ]
    return [c.id for c in made]


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_requests__validate_and_map_status_agency_and_expected_time(api, requests, fmt):
    body = body_of(api.get(f"/open311/v2/requests.{fmt}", None, params=key(api, "cc_s1")), fmt)
    assert_valid(body, "requests.json")
    assert_w3c_times(body)
    by_id = {int(r["service_request_id"]): r for r in body}
    assert sorted(by_id) == sorted(requests)
    reported, working, resolved = (by_id[i] for i in requests)
    assert [r["status"] for r in (reported, working, resolved)] == ["open", "open", "closed"]
    assert (reported["service_code"], reported["service_name"]) == ("CITY-LIGHT", "路灯")
    assert reported["agency_responsible"] is None
    assert working["agency_responsible"] == "城管委"
    assert working["expected_datetime"] is not None
    assert resolved["expected_datetime"] is None
    assert working["status_notes"] == "办理中 Reporting in"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service_request_id": "{0},{2}"}, [0, 2]),
        ({"service_code": "CITY-LIGHT"}, [0]),
        ({"service_code": "UNKNOWN"}, []),
        ({"status": "closed"}, [2]),
        ({"status": "open"}, [0, 1]),
        ({"start_date": "2026-03-03T00:00:00+08:00"}, []),
        ({"end_date": "2026-03-01T00:00:00Z"}, []),
        ({"start_date": "2026-03-02", "end_date": "2026-03-03"}, [0, 1, 2]),
    ],
    ids=lambda value: str(value),
)
def test_get_requests__filters(api, requests, params, expected):
    query = {k: v.format(*requests) for k, v in params.items()} | key(api, "cc_s1")
    body = api.get("/open311/v2/requests.json", None, params=query).json()
    assert sorted(int(r["service_request_id"]) for r in body) == [requests[i] for i in expected]


def test_get_requests__defaults_to_the_last_90_days(api, requests, clock):
    clock.advance(timedelta(days=91))
    assert api.get("/open311/v2/requests.json", None, params=key(api, "cc_s1")).json() == []


def test_get_requests__are_scoped_by_the_keys_account(api, requests):
    foreign = api.get("/open311/v2/requests.json", None, params=key(api, "cc_s2")).json()
    own = api.get("/open311/v2/requests.json", None, params=key(api, "resident")).json()
    assert (len(foreign), len(own)) == (0, 3)


@pytest.mark.parametrize(
    "params",
    [{"start_date": "yesterday"}, {"status": "pending"}, {"service_request_id": "1,x"}],
    ids=["bad-date", "bad-status", "bad-id-list"],
)
def test_get_requests__bad_filters_are_400(api, requests, params):
    response = api.get("/open311/v2/requests.xml", None, params=params | key(api, "cc_s1"))
    assert response.status_code == 400
    assert_valid(read_xml(response.content), ERRORS_SCHEMA)


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_one_request__validates_as_a_list_of_one(api, requests, fmt):
    response = api.get(f"/open311/v2/requests/{requests[1]}.{fmt}", None, params=key(api, "cc_s1"))
    body = body_of(response, fmt)
    assert_valid(body, "requests.json")
    assert [r["service_request_id"] for r in body] == [str(requests[1])]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("request_id", ["999999", "abc"])
def test_get_one_request__unknown_is_404_as_an_error_array(api, requests, fmt, request_id):
    response = api.get(f"/open311/v2/requests/{request_id}.{fmt}", None, params=key(api, "cc_s1"))
    assert response.status_code == 404
    assert_valid(body_of(response, fmt), ERRORS_SCHEMA)


def test_get_one_request__out_of_scope_is_the_same_404(api, requests):
    hidden = api.get(f"/open311/v2/requests/{requests[0]}.json", None, params=key(api, "cc_s2"))
    assert hidden.status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_updates__list_each_change_of_state_newest_first(api, requests, fmt):
    params = key(api, "cc_s1") | {"service_request_id": str(requests[2])}
    body = body_of(api.get(f"/open311/v2/servicerequestupdates.{fmt}", None, params=params), fmt)
    assert_valid(body, UPDATES_SCHEMA)
    assert [(u["status"], u["description"]) for u in body] == [
        ("closed", "已办结 Resolved"),
        ("open", "办理中 Reporting in"),
        ("open", "已派单 Assigned"),
        ("open", "已受理 Reported"),
    ]
    assert len({u["update_id"] for u in body}) == 4


def test_an_unknown_format__is_an_error_array(api):
    response = api.get("/open311/v2/services.yaml", None)
    assert response.status_code == 400
    assert_valid(response.json(), ERRORS_SCHEMA)


def test_chinese_text__round_trips_through_post_and_xml(api, services):
    text = "胡同口的“共享单车”乱停放，堵住消防通道 & 盲道 <紧急>"
    form = key(api) | {"service_code": "CITY", "address_id": "G1", "description": text}
    made = body_of(api.post("/open311/v2/requests.xml", None, data=form), "xml")
    request_id = made[0]["service_request_id"]
    read = body_of(api.get(f"/open311/v2/requests/{request_id}.xml", None, params=key(api)), "xml")
    assert read[0]["description"] == text


# -- Real GeoReport responses of other cities parse with the same reader -----------------------


def _real(name: str) -> Any:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"the real responses are not at {REAL} (../shared/data/open311)")
    return json.loads(path.read_text()) if path.suffix == ".json" else read_xml(path.read_bytes())


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("bloomington_IN_services.json", "services.json"),
        ("bloomington_IN_requests.json", "requests.json"),
        ("giessen_services.xml", "services.json"),
        ("san_francisco_services.xml", "services.json"),
        ("toronto_requests.xml", "requests.json"),
    ],
)
def test_real_responses__parse_and_validate(name, schema):
    body = _real(name)
    assert len(body) > 0
    assert_valid(body, schema)


def test_real_response_of_san_francisco__parses_and_deviates_only_in_its_status_capitals():
    body = _real("san_francisco_requests.xml")
    assert len(body) == 56
    problems = {e.message for e in validator("requests.json").iter_errors(body)}
    assert problems == {
        "'Open' is not one of ['open', 'closed']",
        "'Closed' is not one of ['open', 'closed']",
    }


# -- Form bodies as clients send them: raw UTF-8, another charset, bytes that do not decode ------

RAW_UTF8 = "application/x-www-form-urlencoded"


def _raw_form(api, fields: dict[str, str], *, charset: str = "utf-8") -> bytes:
    """A form body with its text as raw bytes of ``charset`` (as ``curl -d`` sends it)."""
    return "&".join(f"{k}={v}" for k, v in (key(api) | fields).items()).encode(charset)


@pytest.mark.parametrize("charset", ["utf-8", "gb18030"])
def test_post_request__raw_text_in_the_forms_charset_is_stored_as_sent(
    api, services, session, charset
):
    text = "东华门大街路灯不亮，已经三天"
    body = _raw_form(api, {"service_code": "CITY", "address_id": "G1", "description": text},
                     charset=charset)  # fmt: skip
    header = RAW_UTF8 if charset == "utf-8" else f"{RAW_UTF8}; charset={charset}"
    response = api.post(
        "/open311/v2/requests.json", None, content=body, headers={"content-type": header}
    )
    assert response.status_code == 200, response.text
    case = session.get(Case, int(response.json()[0]["service_request_id"]))
    assert case.description == text


@pytest.mark.parametrize(
    ("body", "header", "status", "description"),
    [
        pytest.param(
            b"description=\xe8\xb7\xaf\xff", RAW_UTF8, 400,
            "the form's field 'description' is not valid utf-8: byte(s) FF at 3; send UTF-8 "
            "(percent-encoded or not), or name the charset in Content-Type", id="raw-byte",
        ),
        pytest.param(
            b"description=%E8%B7%AF%FF", RAW_UTF8, 400, None, id="escaped-byte",
        ),
        pytest.param(
            b"description=x", f"{RAW_UTF8}; charset=klingon", 415,
            "the form's charset 'klingon' is not one this server reads; send UTF-8",
            id="unknown-charset",
        ),
    ],
)  # fmt: skip
def test_post_request__a_form_that_does_not_decode_is_refused_and_writes_nothing(
    api, services, session_factory, body, header, status, description
):
    before = row_counts(session_factory)
    fields = _raw_form(api, {"service_code": "CITY", "address_id": "G1"}) + b"&" + body
    response = api.post(
        "/open311/v2/requests.json", None, content=fields, headers={"content-type": header}
    )
    assert response.status_code == status
    errors = response.json()
    assert_valid(errors, ERRORS_SCHEMA)
    assert errors[0]["code"] == status
    if description is not None:
        assert errors[0]["description"] == description
    assert row_counts(session_factory) == before


def test_post_request__a_chunked_raw_form_split_inside_a_character_is_stored_whole(
    api, services, session
):
    """Sent without a length, in pieces that cut a character's bytes apart: the body cap
    replays what it read, and the form is decoded from the whole."""
    text = "路灯不亮"
    body = _raw_form(api, {"service_code": "CITY", "address_id": "G1", "description": text})
    cut = body.index(text.encode()) + 1  # inside the first character's three bytes

    def pieces():
        yield body[:cut]
        yield body[cut:]

    response = api.post(
        "/open311/v2/requests.json", None, content=pieces(), headers={"content-type": RAW_UTF8}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    case = session.get(Case, int(response.json()[0]["service_request_id"]))
    assert case.description == text
