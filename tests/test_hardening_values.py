"""Item 6 of the hardening issue (its parts outside Open311): values no database stores are a 422
in words on every backend, never a 500, and nothing is written.
"""

from __future__ import annotations

import pytest

from engine.vocabulary import CaseState
from tests.builders import make_case
from tests.fixtures_api import row_counts

HUGE = 2**70


def raise_body(city, **fields):
    body = {"workflow": "hotline", "area_id": city.grids[0].id, "title": "路灯不亮",
            "description": "东华门大街12号路灯连续三晚不亮"}  # fmt: skip
    return body | fields


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("title", "路灯\x00不亮", "U+0000"),
        ("title", "路灯\x1b[31m不亮", "U+001B"),
        ("description", "东华门\x07大街", "U+0007"),
        ("address", "东华门大街\x9b12号", "U+009B"),
        ("area_id", HUGE, "less than or equal to"),
        ("category_id", HUGE, "less than or equal to"),
    ],
)
def test_raise__control_characters_or_huge_integers_are_a_422_naming_the_field(
    api, city, session_factory, field, value, said
):
    before = row_counts(session_factory)

    answer = api.post("/api/v1/cases", "cc_s1", json=raise_body(city, **{field: value}))

    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]
    assert said in answer.json()["detail"]
    assert row_counts(session_factory) == before


def test_raise__a_description_keeps_its_newlines_and_tabs(api, city):
    answer = api.post("/api/v1/cases", "cc_s1",
                      json=raise_body(city, description="第一行\n第二行\t完"))  # fmt: skip

    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("state", "who", "body"),
    [
        (CaseState.REPORTED, "cc_s1", {"trigger": "dispatch", "lead": HUGE}),
        (CaseState.REPORTED, "cc_s1", {"trigger": "dispatch", "lead": 1, "assisting": [HUGE]}),
        (CaseState.ASSIGNED, "cc_s1", {"trigger": "merge", "into": HUGE}),
        (CaseState.ASSIGNED, "cc_s1", {"trigger": "cancel", "reason": "重复\x00受理"}),
        (CaseState.REPORTED, "cc_s1", {"trigger": "dispatch", "lead": 1, "version": HUGE}),
    ],
)
def test_case_transition__huge_ids_or_control_characters_are_a_422_and_change_nothing(
    api, session, rt, city, clock, session_factory, state, who, body
):
    case = make_case(session, rt, city, clock, state=state)
    before = row_counts(session_factory)

    answer = api.post(f"/api/v1/cases/{case.id}/transitions", who, json=body)

    assert answer.status_code == 422, answer.text
    assert row_counts(session_factory) == before


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/evaluations?level=unit&from=2026-03-01&to=2026-03-31&unit_id={HUGE}",
        f"/api/v1/evaluations/drill-down?level=unit&unit_id={HUGE}&figure=response_rate"
        "&from=2026-03-01&to=2026-03-31",
    ],
)
def test_evaluations__a_huge_unit_id_is_a_422(api, path):
    answer = api.get(path, "assessor")

    assert answer.status_code == 422, answer.text


def test_unit_ratings__a_huge_unit_id_is_a_422_and_writes_nothing(api, session_factory):
    before = row_counts(session_factory)

    answer = api.post("/api/v1/evaluations/unit-ratings", "grid_c1",
                      json={"unit_id": HUGE, "year": 2026, "score": 90})  # fmt: skip

    assert answer.status_code == 422, answer.text
    assert row_counts(session_factory) == before
