"""Callbacks (回访) over HTTP: recording an attempt with the transition endpoint, the staff's list
of attempts, the rating that follows, and every refusal as problem+json with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest

from engine.vocabulary import CallbackOutcome, CaseState, CloseReason, Trigger
from tests.builders import make_case
from tests.fixtures_api import Api, row_counts


def _resolved(session: Any, rt: Any, city: Any, clock: Any) -> int:
    return make_case(session, rt, city, clock, state=CaseState.RESOLVED).id


def _callback(api: Api, case_id: int, who: str = "cc_s1", **fields: Any) -> httpx2.Response:
    body = {"trigger": Trigger.CALLBACK, "outcome": CallbackOutcome.NO_ANSWER} | fields
    return api.post(f"/api/v1/cases/{case_id}/transitions", who, json=body)


def _problem(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    return body


def test_callback__recorded_over_http_shows_on_the_case_and_in_the_staff_list(
    api, session, rt, city, clock
):
    case_id = _resolved(session, rt, city, clock)
    answer = _callback(api, case_id, note="无人接听，明天再打")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["state"], body["callback_attempts"], body["callback_outcome"]) == (
        CaseState.RESOLVED, 1, CallbackOutcome.NO_ANSWER,
    )  # fmt: skip
    assert body["callback_at"] is not None
    assert Trigger.CALLBACK in body["allowed_triggers"]
    assert Trigger.RATE not in body["allowed_triggers"]  # not before a callback reached
    listed = api.get(f"/api/v1/cases/{case_id}/callbacks", "cc_s1")
    assert listed.status_code == 200
    (attempt,) = listed.json()
    assert (attempt["attempt"], attempt["outcome"], attempt["note"]) == (
        1, CallbackOutcome.NO_ANSWER, "无人接听，明天再打",
    )  # fmt: skip
    assert attempt["operator_role"] == "command_centre"
    # The lead department sees how the callbacks went; the resident never does.
    assert api.get(f"/api/v1/cases/{case_id}/callbacks", "dept_um").status_code == 200
    _problem(api.get(f"/api/v1/cases/{case_id}/callbacks", "resident"), 403)
    timeline = api.get(f"/api/v1/cases/{case_id}/events", "resident").json()
    assert all(e["trigger"] != Trigger.CALLBACK for e in timeline)
    assert "无人接听" not in str(timeline)


def test_callback__a_reached_one_opens_the_centres_rating(api, session, rt, city, clock):
    case_id = _resolved(session, rt, city, clock)
    rate = {"trigger": Trigger.RATE, "solved": True, "stars": 5}
    refused = api.post(f"/api/v1/cases/{case_id}/transitions", "cc_s1", json=rate)
    assert "callback" in _problem(refused, 409)["detail"]
    assert _callback(api, case_id, outcome=CallbackOutcome.REACHED).status_code == 200
    rated = api.post(f"/api/v1/cases/{case_id}/transitions", "cc_s1", json=rate)
    assert rated.status_code == 200, rated.text
    assert (rated.json()["state"], rated.json()["rating"]) == (CaseState.RATED, "satisfied")


def test_callback__a_wrong_number_closes_the_case_as_unreachable(api, session, rt, city, clock):
    case_id = _resolved(session, rt, city, clock)
    body = _callback(api, case_id, outcome=CallbackOutcome.WRONG_NUMBER).json()
    assert (body["state"], body["close_reason"], body["rating"]) == (
        CaseState.CLOSED, CloseReason.UNREACHABLE, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        pytest.param({"outcome": "busy"}, 422, id="unknown-outcome"),
        pytest.param({"outcome": None}, 422, id="missing-outcome"),
        pytest.param({"outcome": ["reached"]}, 422, id="wrong-type"),
        pytest.param({"note": "长" * 2001}, 422, id="note-too-long"),
        pytest.param({"called_at": "2026-03-02 10:00"}, 422, id="time-without-offset"),
        pytest.param({"called_at": "2099-01-01T00:00:00+08:00"}, 422, id="time-in-future"),
        pytest.param({"called_at": "2020-01-01T00:00:00+08:00"}, 422, id="before-resolution"),
        pytest.param({"version": 1}, 409, id="stale-version"),
    ],
)
def test_callback__bad_input_is_a_problem_and_changes_nothing(
    api, session, rt, city, clock, session_factory, fields, status
):
    case_id = _resolved(session, rt, city, clock)
    before = row_counts(session_factory)
    case_before = api.get(f"/api/v1/cases/{case_id}", "cc_s1").json()
    problem = _problem(_callback(api, case_id, **fields), status)
    assert problem["detail"]
    assert row_counts(session_factory) == before
    assert api.get(f"/api/v1/cases/{case_id}", "cc_s1").json() == case_before


@pytest.mark.parametrize(("who", "status"), [("cc_s2", 404), ("dept_um", 403), ("resident", 403)])
def test_callback__only_the_centre_in_scope_records_one(
    api, session, rt, city, clock, session_factory, who, status
):
    case_id = _resolved(session, rt, city, clock)
    before = row_counts(session_factory)
    _problem(_callback(api, case_id, who=who), status)
    assert row_counts(session_factory) == before


def test_callbacks__of_a_case_out_of_scope_or_missing_are_not_found(api, session, rt, city, clock):
    case_id = _resolved(session, rt, city, clock)
    _problem(api.get(f"/api/v1/cases/{case_id}/callbacks", "cc_s2"), 404)
    _problem(api.get("/api/v1/cases/987654/callbacks", "cc_s1"), 404)
    _problem(api.get(f"/api/v1/cases/{case_id}/callbacks", None), 401)


def test_callback__before_resolution_is_an_illegal_transition(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    clock.advance(timedelta(minutes=5))
    _problem(_callback(api, case.id), 409)


def test_cases__filtered_by_callback_due_list_the_resolved_cases_not_yet_reached(
    api, session, rt, city, clock
):
    waiting = _resolved(session, rt, city, clock)
    reached = _resolved(session, rt, city, clock)
    working = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN).id
    assert _callback(api, waiting).status_code == 200  # unanswered: still due
    assert _callback(api, reached, outcome=CallbackOutcome.REACHED).status_code == 200

    def listed(value: str) -> set[int]:
        answer = api.get("/api/v1/cases", "cc_s1", params={"callback_due": value})
        assert answer.status_code == 200, answer.text
        return {c["id"] for c in answer.json()["items"]}

    assert listed("true") == {waiting}
    assert {reached, working} <= listed("false")
    assert waiting not in listed("false")
    assert "callback_due" in str(_problem(api.get(
        "/api/v1/cases", "cc_s1", params={"callback_due": "maybe"}), 422))  # fmt: skip
