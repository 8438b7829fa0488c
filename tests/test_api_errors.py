"""Every error answer of the API, reached by a real request: a problem document with a stable
type, and not one row written."""

from __future__ import annotations

import pytest

from api.problems import MEDIA_TYPE, TYPE_PREFIX
from engine.auth import ApiToken, revoke_token
from engine.vocabulary import AssignmentRole, CaseState, Trigger
from tests.builders import assignments_of, make_case, png_file
from tests.fixtures_api import row_counts

PNG = png_file()


@pytest.fixture
def case(api, session, rt, city, clock):
    return make_case(session, rt, city, clock, state=CaseState.ASSIGNED)


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["type"] == TYPE_PREFIX + slug
    assert body["status"] == status
    assert body["title"]
    return body


def raise_body(city, **fields):
    return {"title": "井盖丢失", "area_id": city.grids[0].id} | fields


def test_raise__with_a_body_that_is_not_json_is_400_and_writes_nothing(api, session_factory):
    before = row_counts(session_factory)
    response = api.post(
        "/api/v1/cases", "resident", content=b"{not json",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert_problem(response, 400, "malformed-request")
    assert row_counts(session_factory) == before


def test_raise__with_a_too_short_title_is_422_naming_the_field(api, city, session_factory):
    before = row_counts(session_factory)
    response = api.post("/api/v1/cases", "resident", json=raise_body(city, title="x"))
    body = assert_problem(response, 422, "validation")
    assert [e["loc"] for e in body["errors"]] == [["body", "title"]]
    assert row_counts(session_factory) == before


def test_raise__in_an_unknown_area_is_422_from_the_engine(api, session_factory):
    before = row_counts(session_factory)
    response = api.post("/api/v1/cases", "resident", json={"title": "井盖丢失", "area_id": 999})
    body = assert_problem(response, 422, "invalid-input")
    assert body["detail"] == "case: area_id: 999 is not an area"
    assert row_counts(session_factory) == before


def test_list__with_a_limit_over_the_maximum_is_422(api):
    assert_problem(api.get("/api/v1/cases", "cc_s1", params={"limit": 101}), 422, "validation")


def test_list__with_a_date_without_timezone_is_422(api):
    response = api.get("/api/v1/cases", "cc_s1", params={"created_from": "2026-03-01T00:00:00"})
    assert_problem(response, 422, "validation")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "],
    ids=["missing", "unknown", "not-bearer", "empty"],
)
def test_any_call__without_a_valid_token_is_401_with_a_challenge(
    api, city, session_factory, authorization
):
    before = row_counts(session_factory)
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.post("/api/v1/cases", json=raise_body(city), headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert row_counts(session_factory) == before


def test_a_revoked_token__is_401(api, city, session, clock, session_factory):
    assert api.get("/api/v1/cases", "cc_s1").status_code == 200
    token_id = session.query(ApiToken.id).filter_by(account_id=city.accounts["cc_s1"].id).scalar()
    revoke_token(session, token_id=token_id, now=clock.now())
    session.commit()
    before = row_counts(session_factory)
    assert_problem(api.get("/api/v1/cases", "cc_s1"), 401, "unauthenticated")
    assert row_counts(session_factory) == before


def test_raise__by_a_department_is_403(api, city, session_factory):
    before = row_counts(session_factory)
    body = assert_problem(
        api.post("/api/v1/cases", "dept_um", json=raise_body(city)), 403, "forbidden"
    )
    assert body["detail"] == "role 'department' may not raise a hotline case"
    assert row_counts(session_factory) == before


def test_unknown_and_out_of_scope_cases__answer_the_same_404(api, case):
    unknown = assert_problem(api.get("/api/v1/cases/999999", "cc_s2"), 404, "not-found")
    hidden = assert_problem(api.get(f"/api/v1/cases/{case.id}", "cc_s2"), 404, "not-found")
    assert unknown["detail"] == "case 999999 not found"
    assert hidden["detail"] == f"case {case.id} not found"
    assert unknown.keys() == hidden.keys()


def test_an_unknown_path__is_a_404_problem(api):
    assert_problem(api.get("/api/v1/nothing-here", "cc_s1"), 404, "not-found")


def test_an_illegal_transition__is_409_and_writes_nothing(api, case, session_factory):
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.DISPATCH, "lead": api.city.departments[0].id},
    )  # fmt: skip
    body = assert_problem(response, 409, "illegal-transition")
    assert (
        body["detail"] == f"case {case.id} is 'assigned'; 'dispatch' is allowed from ['reported']"
    )
    assert row_counts(session_factory) == before


def test_a_failed_guard__is_409(api, session, rt, city, clock, session_factory):
    case = make_case(session, rt, city, clock, state=CaseState.RATED)  # rated satisfied
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "resident",
        json={"trigger": Trigger.REDO, "reason": "还是不亮"},
    )  # fmt: skip
    assert_problem(response, 409, "guard-failed")
    assert row_counts(session_factory) == before


def test_a_stale_version_in_the_body__is_409_and_writes_nothing(api, case, session_factory):
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.CANCEL, "reason": "重复受理", "version": case.version - 1},
    )  # fmt: skip
    body = assert_problem(response, 409, "stale-version")
    assert body["detail"] == (
        f"case {case.id} is at version {case.version}; the request was for version "
        f"{case.version - 1}"
    )
    assert row_counts(session_factory) == before


def test_a_stale_if_match__is_409_and_the_current_etag_succeeds(api, case, session_factory):
    before = row_counts(session_factory)
    path = f"/api/v1/cases/{case.id}/transitions"
    body = {"trigger": Trigger.CANCEL, "reason": "重复受理"}
    stale = api.post(path, "cc_s1", json=body, headers={"If-Match": f'"{case.version - 1}"'})
    assert_problem(stale, 409, "stale-version")
    assert row_counts(session_factory) == before
    etag = api.get(f"/api/v1/cases/{case.id}", "cc_s1").headers["etag"]
    fresh = api.post(path, "cc_s1", json=body, headers={"If-Match": etag})
    assert fresh.status_code == 200
    assert fresh.json()["state"] == CaseState.CANCELLED
    assert fresh.headers["etag"] == f'"{case.version + 1}"'


def test_a_malformed_if_match__is_422(api, case):
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.CANCEL, "reason": "重复受理"}, headers={"If-Match": "yesterday"},
    )  # fmt: skip
    assert_problem(response, 422, "invalid-input")


def test_a_wrong_payload__is_422_naming_the_field(api, case, session_factory):
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1", json={"trigger": Trigger.CANCEL}
    )
    body = assert_problem(response, 422, "invalid-input")
    assert body["detail"] == "'cancel' payload: reason: Field required"
    assert row_counts(session_factory) == before


def test_an_unknown_trigger_name__is_422(api, case):
    response = api.post(f"/api/v1/cases/{case.id}/transitions", "cc_s1", json={"trigger": "fly"})
    assert_problem(response, 422, "validation")


def test_a_body_over_the_cap__is_413_before_any_handler_runs(api, city, session_factory):
    before = row_counts(session_factory)
    huge = raise_body(city, description="很" * 200_000)
    assert_problem(api.post("/api/v1/cases", "resident", json=huge), 413, "body-too-large")
    assert row_counts(session_factory) == before


def test_a_chunked_body_over_the_cap__is_413(api, session_factory):
    before = row_counts(session_factory)

    def chunks():
        for _ in range(100):
            yield b"x" * 4096

    response = api.post(
        "/api/v1/cases", "resident", content=chunks(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body-too-large")
    assert row_counts(session_factory) == before


def test_evidence_over_its_cap__is_413_and_stores_no_file(api, case, session_factory, api_settings):
    before = row_counts(session_factory)
    big = PNG + b"\x00" * api_settings.evidence_max_bytes
    files = {"file": ("big.png", big, "image/png")}
    response = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1", files=files)
    assert_problem(response, 413, "body-too-large")
    assert row_counts(session_factory) == before
    assert not list((api_settings.data_dir / "evidence").glob("*"))


@pytest.mark.parametrize(
    ("content", "declared", "status", "slug"),
    [
        (b"GIF89a" + b"\x00" * 10, "image/gif", 415, "unsupported-media-type"),
        (b"MZ\x90\x00", "image/png", 422, "invalid-input"),
    ],
    ids=["type-not-allowed", "content-not-its-type"],
)
def test_evidence_of_a_wrong_type__is_refused_and_stores_no_file(
    api, case, session_factory, api_settings, content, declared, status, slug
):
    before = row_counts(session_factory)
    files = {"file": ("x", content, declared)}
    response = api.post(f"/api/v1/cases/{case.id}/evidence", "cc_s1", files=files)
    assert_problem(response, status, slug)
    assert row_counts(session_factory) == before
    assert not (api_settings.data_dir / "evidence").exists()


def test_intake_over_the_rate_limit__is_429_with_retry_after(
    api, city, session_factory, api_settings
):
    api.app.state.limiter.limit = 2
    assert [
        api.post("/api/v1/cases", "resident", json=raise_body(city)).status_code for _ in range(2)
    ] == [201, 201]
    before = row_counts(session_factory)
    response = api.post("/api/v1/cases", "resident", json=raise_body(city))
    assert_problem(response, 429, "rate-limited")
    assert 1 <= int(response.headers["retry-after"]) <= api_settings.intake_rate_window
    assert row_counts(session_factory) == before
    # The limit is per client: another account is not held back.
    assert api.post("/api/v1/cases", "resident2", json=raise_body(city)).status_code == 201


def test_an_id_beyond_what_the_database_stores__is_422_not_a_server_error(api, city):
    assert_problem(api.get(f"/api/v1/cases/{2**31}", "cc_s1"), 422, "validation")
    response = api.post("/api/v1/cases", "resident", json=raise_body(city, area_id=2**40))
    assert_problem(response, 422, "validation")


def test_a_payload_id_beyond_what_the_database_stores__is_422_and_writes_nothing(
    api, session, rt, city, clock, session_factory
):
    case = make_case(session, rt, city, clock)
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/cases/{case.id}/transitions", "cc_s1",
        json={"trigger": Trigger.DISPATCH, "lead": 2**40},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["type"] == TYPE_PREFIX + "invalid-input"
    assert row_counts(session_factory) == before


def _lead_id(session, case) -> int:
    return next(a.id for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)


@pytest.mark.parametrize("subject", ["case", "assignment"])
@pytest.mark.parametrize(
    "bad",
    ["if_match", "body", "path"],
    ids=["malformed-if-match", "invalid-body", "non-numeric-id"],
)
def test_a_transition_with_an_unknown_token__is_401_whatever_else_is_wrong(
    api, case, session, session_factory, subject, bad
):
    # The token is looked up in the same hop as the move; what else is wrong is said only to a
    # caller the token names.
    target = case.id if subject == "case" else _lead_id(session, case)
    session.rollback()
    path = f"/api/v1/{subject}s/{'x' if bad == 'path' else target}/transitions"
    body: dict = {"trigger": Trigger.CANCEL, "reason": "重复受理"}
    if subject == "assignment":
        body = {"trigger": Trigger.ACCEPT}
    if bad == "body":
        body = {"trigger": 7}
    headers = {"Authorization": "Bearer not-a-token"}
    if bad == "if_match":
        headers["If-Match"] = "yesterday"
    before = row_counts(session_factory)
    response = api.client.post(path, json=body, headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert row_counts(session_factory) == before


def test_an_assignment_transition__with_a_malformed_if_match_is_422_and_changes_nothing(
    api, case, session, session_factory
):
    lead = _lead_id(session, case)
    session.rollback()
    before = row_counts(session_factory)
    response = api.post(
        f"/api/v1/assignments/{lead}/transitions", "dept_um", json={"trigger": Trigger.ACCEPT},
        headers={"If-Match": "yesterday"},
    )  # fmt: skip
    assert_problem(response, 422, "invalid-input")
    assert row_counts(session_factory) == before
