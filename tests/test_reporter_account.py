"""A case taken in for a registered resident (a call, a visit) belongs to that resident: they can
follow it and rate it through the API. Naming anyone but an active resident is refused."""

from __future__ import annotations

import pytest

from tests.fixtures_api import row_counts


def _raise(api, city, who="cc_s1", **fields):
    body = {"title": "楼道灯不亮", "area_id": city.grids[0].id} | fields
    return api.post("/api/v1/cases", who, json=body)


def test_intake_for_a_resident__the_resident_sees_the_case_and_others_do_not(api, city):
    made = _raise(api, city, reporter_account="resident")
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    assert api.get(f"/api/v1/cases/{case_id}", "resident").status_code == 200
    assert api.get(f"/api/v1/cases/{case_id}", "resident2").status_code == 404


@pytest.mark.parametrize(
    ("name", "why"),
    [("nobody", "not an active resident"), ("dept_um", "not an active resident")],
)
def test_intake_for_a_resident__naming_no_resident_is_422_and_creates_nothing(
    api, city, session_factory, name, why
):
    before = row_counts(session_factory)
    answer = _raise(api, city, reporter_account=name)
    assert answer.status_code == 422
    assert why in answer.json()["detail"]
    assert row_counts(session_factory) == before


def test_resident__may_not_raise_in_another_residents_name(api, city, session_factory):
    before = row_counts(session_factory)
    answer = _raise(api, city, who="resident", reporter_account="resident2")
    assert answer.status_code == 422
    assert "reports for themselves" in answer.json()["detail"]
    assert row_counts(session_factory) == before
