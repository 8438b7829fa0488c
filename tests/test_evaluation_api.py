"""The evaluation over HTTP: figures and drill-down scoped by the token, an export built by a
real RQ worker with its progress and its file, and the communities' ratings of units.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from rq import Queue

from engine.config import get_settings
from engine.rollup.scheme import get_scheme
from engine.vocabulary import Rating, Trigger
from tests.evaluation_support import dispatch, fire, raise_at, run_reports, work_through
from workers.reports import REPORTS


@pytest.fixture(autouse=True)
def _lists_from_one_case(monkeypatch):
    """These small cities have a case or two per unit: list units from one case on."""
    monkeypatch.setenv("WHISTLE_EVAL_MIN_VOLUME", "1")
    get_scheme.cache_clear()
    yield
    get_scheme.cache_clear()


BASE = "/api/v1/evaluations"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def evaluations(api, session, rt, city, clock, db_url, tmp_path, monkeypatch) -> Iterator[Any]:
    """The API with the evaluations router, one rated case in March, and workers that read this
    test's database."""
    assert BASE in api.app.openapi()["paths"]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    case = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=city.departments[0].id)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    api.case_id = case.id
    yield api
    get_settings.cache_clear()


def test_get_evaluations__answers_the_ranked_figures_of_a_level(evaluations, city):
    answer = evaluations.get(BASE, "assessor", params={"level": "department", **MARCH})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    first = body["rows"][0]
    assert (first["unit_id"], first["rank"], first["composite"]) == (
        city.departments[0].id,
        1,
        100.0,
    )
    assert body["red_list"][0]["unit_id"] == city.departments[0].id
    assert body["period"] == {"from": "2026-03", "to": "2026-03", "note": None, "complete": False}


def test_get_evaluations__drills_down_to_the_cases(evaluations, city):
    answer = evaluations.get(f"{BASE}/drill-down", "cc_s1", params={
        "level": "street", "unit_id": city.streets[0].id, "figure": "satisfaction_rate", **MARCH,
    })  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json()["numerator"]["case_ids"] == [evaluations.case_id]


def test_get_evaluations__an_assessor_outside_the_scope_gets_404(evaluations, city):
    street = {"level": "street", "unit_id": city.streets[0].id, **MARCH}
    figures = evaluations.get(BASE, "assessor_s2", params=street)
    drill = evaluations.get(
        f"{BASE}/drill-down", "assessor_s2", params=street | {"figure": "response_rate"}
    )

    assert (figures.status_code, drill.status_code) == (404, 404)
    assert figures.headers["content-type"] == "application/problem+json"
    assert figures.json()["detail"] == f"street {city.streets[0].id} not found"


@pytest.mark.parametrize(
    ("who", "params", "code"),
    [
        ("dept_um", {"level": "street", **MARCH}, 403),
        (None, {"level": "street", **MARCH}, 401),
        ("assessor", {"level": "galaxy", **MARCH}, 422),
        ("assessor", {"level": "street", "from": "2026-04-01", "to": "2026-03-01"}, 422),
    ],
)
def test_get_evaluations__bad_requests_are_problems(evaluations, who, params, code):
    assert evaluations.get(BASE, who, params=params).status_code == code


def test_export__a_job_moves_from_0_to_100_and_its_file_downloads(evaluations, api_redis):
    started = evaluations.post(f"{BASE}/exports", "assessor", json={**MARCH, "format": "xlsx"})
    job_url = started.headers["Location"]
    before = evaluations.get(job_url, "assessor").json()

    run_reports(api_redis)
    after = evaluations.get(job_url, "assessor").json()
    download = evaluations.get(after["file"], "assessor")

    assert started.status_code == 202, started.text
    assert (before["progress"], before["ready"], before["status"]) == (0, False, "queued")
    assert (after["progress"], after["ready"], after["status"]) == (100, True, "finished")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(download.content))
    assert "排名 Rankings" in book.sheetnames


def test_export__another_account_cannot_see_or_download_it(evaluations, api_redis):
    started = evaluations.post(f"{BASE}/exports", "assessor", json={**MARCH, "format": "json"})
    run_reports(api_redis)
    job_url = started.headers["Location"]

    assert evaluations.get(job_url, "assessor_s2").status_code == 404
    assert evaluations.get(f"{job_url}/file", "assessor_s2").status_code == 404
    assert evaluations.get(f"{BASE}/exports/esc-1-0", "assessor").status_code == 404


def test_export__a_file_not_built_yet_is_a_conflict_and_bad_bodies_are_refused(
    evaluations, api_redis
):
    started = evaluations.post(f"{BASE}/exports", "assessor", json={**MARCH, "format": "csv"})
    not_yet = evaluations.get(f"{started.headers['Location']}/file", "assessor")
    refused = evaluations.post(f"{BASE}/exports", "dept_um", json=MARCH)
    bad = evaluations.post(f"{BASE}/exports", "assessor", json={**MARCH, "format": "pdf"})

    assert not_yet.status_code == 409
    assert refused.status_code == 403
    assert bad.status_code == 422
    assert Queue(REPORTS, connection=api_redis).count == 1


def test_unit_ratings__a_community_rates_its_registered_unit(evaluations, city):
    body = {"unit_id": city.unit.id, "year": 2026, "score": 88, "comment": "响应及时"}

    made = evaluations.post(f"{BASE}/unit-ratings", "grid_c1", json=body)
    refused = evaluations.post(f"{BASE}/unit-ratings", "assessor", json=body)
    foreign = evaluations.post(f"{BASE}/unit-ratings", "grid_c2", json=body)
    wrong = evaluations.post(f"{BASE}/unit-ratings", "grid_c1", json=body | {"score": 120})

    assert made.status_code == 201, made.text
    assert (made.json()["score"], made.json()["community_id"]) == (88.0, city.communities[0].id)
    assert (refused.status_code, foreign.status_code, wrong.status_code) == (403, 422, 422)
