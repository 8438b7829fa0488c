"""What assessors read of a case's text is redacted of personal data: the report files (JSON, CSV,
XLSX, built directly and by a real RQ worker from the console), the drill-down (page and API), and
the case board, its CSV and XLSX and the case page when an assessor reads them. The command centre
that handles the case still reads the text in clear."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import openpyxl
import pytest
import redis
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.clock import ManualClock
from engine.config import get_settings
from engine.evaluation.export import ExportFormat, write_report
from engine.evaluation.period import Period
from engine.evaluation.service import year_end_report
from engine.privacy import case_text, reads_text_redacted
from engine.rollup.metrics import Level
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.vocabulary import AppealKind, CallbackOutcome, CaseState, Rating, Role, Trigger
from tests.builders import City, make_case
from tests.evaluation_support import (
    SYSTEM,
    dispatch,
    fire,
    raise_at,
    run_due_steps,
    run_reports,
    work_through,
)
from tests.fixtures_console import Console

MOBILE, ID_CARD = "13812345678", "110101199003071234"
TITLE = f"路灯不亮 联系{MOBILE} 身份证{ID_CARD}"
REDACTED = "路灯不亮 联系[电话] 身份证[身份证号]"
MARCH = Period.month(2026, 3)


@pytest.fixture(autouse=True)
def _lists_from_one_case(monkeypatch):
    """These small cities have a case or two per unit: list units from one case on."""
    monkeypatch.setenv("WHISTLE_EVAL_MIN_VOLUME", "1")
    get_scheme.cache_clear()
    yield
    get_scheme.cache_clear()


@dataclass
class Told:
    """Three March cases whose titles carry a mobile and an ID card number."""

    good: int  # 城管委's, rated satisfied: behind its rates
    excluded: int  # 城管委's, rated dissatisfied, the appeal upheld: on the excluded list
    late: int  # 住建委's, never accepted: on the red-step list
    um: int


@pytest.fixture
def told(session: Session, rt: Runtime, city: City, clock: ManualClock) -> Told:
    um = city.departments[0].id
    good = raise_at(session, rt, city, clock, title=TITLE)
    (lead,) = dispatch(session, rt, city, clock, good.id, lead=um)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, good.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    case = raise_at(session, rt, city, clock, title=TITLE)
    (lead,) = dispatch(session, rt, city, clock, case.id, lead=um)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, case.id, Trigger.RATE, "resident",
         {"solved": False, "rating": Rating.DISSATISFIED})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.APPEAL, "dept_um",
         {"kind": AppealKind.RATING, "reason": "恶意差评"})  # fmt: skip
    fire(session, rt, city, clock, case.id, Trigger.UPHOLD_APPEAL, "cc_district")
    late = raise_at(session, rt, city, clock, street=1, title=TITLE)
    dispatch(session, rt, city, clock, late.id, lead=city.departments[2].id, who="cc_s2")
    run_due_steps(session, rt, clock.advance(timedelta(days=20)))
    return Told(good.id, case.id, late.id, um)


def assert_clean(text: str) -> None:
    assert MOBILE not in text
    assert ID_CARD not in text


def workbook_text(content: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return "\n".join(
        str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
    )


# ---- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_case_text__only_an_assessor_reads_it_redacted(role: Role) -> None:
    actor = Actor(account_id=1, role=role, scope_id=1, scope_path="/1/")

    seen = case_text(actor, TITLE)

    assert reads_text_redacted(actor) is (role == Role.ASSESSOR)
    assert seen == (REDACTED if role == Role.ASSESSOR else TITLE)
    assert case_text(actor, None) is None


# ---- report files ------------------------------------------------------------------------------


def report_bytes(session: Session, rt: Runtime, clock: ManualClock, fmt: ExportFormat) -> bytes:
    report = year_end_report(session=session, rt=rt, actor=SYSTEM, period=MARCH,
                             levels=list(Level), now=clock.now())  # fmt: skip
    out = io.BytesIO()
    write_report(report, fmt, out)
    return out.getvalue()


def test_report_json__lists_the_cases_with_their_titles_redacted(
    session: Session, rt: Runtime, clock: ManualClock, told: Told
) -> None:
    raw = report_bytes(session, rt, clock, ExportFormat.JSON).decode("utf-8")
    data = json.loads(raw)

    assert [(c["case_id"], c["title"]) for c in data["excluded_cases"]] == [
        (told.excluded, REDACTED)
    ]
    assert (told.late, REDACTED) in [(c["case_id"], c["title"]) for c in data["red_step_cases"]]
    assert_clean(raw)


def test_report_xlsx_and_csv__carry_no_phone_or_id_card_number(
    session: Session, rt: Runtime, clock: ManualClock, told: Told
) -> None:
    book = openpyxl.load_workbook(io.BytesIO(report_bytes(session, rt, clock, ExportFormat.XLSX)))
    header, *rows = list(book["剔除 Excluded"].iter_rows(values_only=True))
    as_csv = report_bytes(session, rt, clock, ExportFormat.CSV).decode("utf-8-sig")

    assert header[:2] == ("工单编号 Case", "标题 Title")
    assert [row[:2] for row in rows] == [(told.excluded, REDACTED)]
    assert (told.late, REDACTED) in [
        row[:2] for row in book["通报 Red steps"].iter_rows(min_row=2, values_only=True)
    ]
    assert_clean(workbook_text(report_bytes(session, rt, clock, ExportFormat.XLSX)))
    assert_clean(as_csv)


@pytest.fixture
def workers_read_this_database(db_url: str, tmp_path, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_console_export__the_assessors_workbook_has_the_titles_redacted(
    console: Console, told: Told, api_redis: redis.Redis, workers_read_this_database: None
) -> None:
    client = console.as_("assessor")
    form = {"csrf_token": console.csrf("assessor", "/console/evaluation"), "level": "department",
            "levels": ["department", "street"], "format": "xlsx", "from": "2026-03",
            "to": "2026-03"}  # fmt: skip
    url = client.post("/console/evaluation/exports", data=form).headers["location"]
    run_reports(api_redis)

    download = client.get(f"{url}/file")

    assert download.status_code == 200
    assert REDACTED in workbook_text(download.content)
    assert_clean(workbook_text(download.content))


def test_api_export__the_assessors_json_has_the_titles_redacted(
    api, told: Told, api_redis: redis.Redis, workers_read_this_database: None
) -> None:
    body = {"from": "2026-03-01", "to": "2026-03-31", "levels": ["department"], "format": "json"}
    started = api.post("/api/v1/evaluations/exports", "assessor", json=body)
    run_reports(api_redis)

    download = api.get(f"{started.headers['location']}/file", "assessor")

    assert download.status_code == 200, download.text
    listed = json.loads(download.content)["excluded_cases"]
    assert [(c["case_id"], c["title"]) for c in listed] == [(told.excluded, REDACTED)]
    assert_clean(download.content.decode("utf-8"))


# ---- drill-down --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["assessor", "cc_district"])
def test_drill_page__shows_each_title_redacted_to_every_reader(
    console: Console, told: Told, who: str
) -> None:
    page = console.as_(who).get("/console/evaluation/drill", params={
        "level": "department", "from": "2026-03", "to": "2026-03", "unit_id": str(told.um),
        "figure": "response_rate",
    })  # fmt: skip

    assert page.status_code == 200
    assert f'<a href="/console/cases/{told.good}">#{told.good}</a> {REDACTED}</td>' in page.text
    assert_clean(page.text)


DRILL = {"level": "department", "from": "2026-03", "to": "2026-03", "figure": "response_rate"}


def test_drill_downloads__list_every_case_with_its_title_redacted(
    console: Console, told: Told
) -> None:
    client = console.as_("assessor")
    page = client.get("/console/evaluation/drill", params={**DRILL, "unit_id": str(told.um)})
    as_csv = client.get("/console/evaluation/drill.csv", params={**DRILL, "unit_id": str(told.um)})
    as_xlsx = client.get("/console/evaluation/drill.xlsx", params={**DRILL, "unit_id": told.um})

    assert "/console/evaluation/drill.csv?level=department&amp;from=2026-03" in page.text
    assert as_csv.status_code == 200
    assert as_csv.headers["content-disposition"] == (
        f'attachment; filename="drill-department-{told.um}-response_rate-2026-03-2026-03.csv"'
    )
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["工单编号 Case", "标题 Title", "月份 Month"]
    assert [r[:3] for r in rows[1:]] == [[str(told.good), REDACTED, "2026-03"]]
    assert rows[1][3:] == ["及时响应 +1", "应响应 +1"]
    assert_clean(as_csv.content.decode("utf-8-sig"))
    assert as_xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert REDACTED in workbook_text(as_xlsx.content)
    assert_clean(workbook_text(as_xlsx.content))


def test_drill_downloads__bad_queries_are_422_a_foreign_unit_404_another_type_404(
    console: Console, told: Told, city: City
) -> None:
    client = console.as_("assessor_s2")
    own = console.as_("assessor")

    foreign = client.get("/console/evaluation/drill.csv", params={
        **DRILL, "level": "street", "unit_id": city.streets[0].id})  # fmt: skip
    no_figure = own.get("/console/evaluation/drill.csv", params={
        **DRILL, "unit_id": told.um, "figure": "composite"})  # fmt: skip
    bad_unit = own.get("/console/evaluation/drill.xlsx", params={**DRILL, "unit_id": "1e9"})
    bad_period = own.get("/console/evaluation/drill.csv", params={
        **DRILL, "unit_id": told.um, "from": "2026-04", "to": "2026-01"})  # fmt: skip
    other_type = own.get("/console/evaluation/drill.pdf", params={**DRILL, "unit_id": told.um})
    resident = console.as_("resident").get(
        "/console/evaluation/drill.csv", params={**DRILL, "unit_id": told.um}
    )

    assert foreign.status_code == 404
    assert MOBILE not in foreign.text
    assert (no_figure.status_code, bad_unit.status_code, bad_period.status_code) == (422, 422, 422)
    assert "不能下钻" in no_figure.text
    assert "单位编号无效" in bad_unit.text
    assert other_type.status_code == 404
    assert resident.status_code == 403
    assert_clean(resident.text)


def test_drill_api__carries_no_phone_or_id_card_number(api, told: Told) -> None:
    answer = api.get("/api/v1/evaluations/drill-down", "assessor", params={
        "level": "department", "unit_id": told.um, "figure": "response_rate",
        "from": "2026-03-01", "to": "2026-03-31",
    })  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert told.good in answer.json()["denominator"]["case_ids"]
    assert_clean(answer.text)


# ---- the board and the case page ---------------------------------------------------------------


def test_board_export__an_assessors_csv_and_xlsx_redact_a_command_centres_do_not(
    console: Console, told: Told
) -> None:
    assessor, centre = console.as_("assessor"), console.as_("cc_district")

    as_csv = assessor.get("/console/cases.csv")
    as_xlsx = assessor.get("/console/cases.xlsx")
    centres = centre.get("/console/cases.csv").content.decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert {(int(r[0]), r[1]) for r in rows[1:]} == {
        (told.good, REDACTED),
        (told.excluded, REDACTED),
        (told.late, REDACTED),
    }
    assert as_csv.content.startswith(codecs.BOM_UTF8)
    assert_clean(as_csv.content.decode("utf-8-sig"))
    assert REDACTED in workbook_text(as_xlsx.content)
    assert_clean(workbook_text(as_xlsx.content))
    assert TITLE in centres


def test_case_api__an_assessor_reads_list_case_and_timeline_redacted(
    api, session: Session, rt: Runtime, city: City, clock: ManualClock, told: Told
) -> None:
    fire(session, rt, city, clock, told.late, Trigger.CANCEL, "cc_s2",
         {"reason": f"重复来电，请回电{MOBILE}"})  # fmt: skip
    listed = api.get("/api/v1/cases", "assessor")
    one = api.get(f"/api/v1/cases/{told.late}", "assessor")
    timeline = api.get(f"/api/v1/cases/{told.late}/events", "assessor")
    centre = api.get(f"/api/v1/cases/{told.late}", "cc_district").json()

    assert [a.status_code for a in (listed, one, timeline)] == [200, 200, 200]
    assert {c["title"] for c in listed.json()["items"]} == {REDACTED}
    assert (one.json()["title"], one.json()["cancel_reason"]) == (
        REDACTED,
        "重复来电，请回电[电话]",
    )
    assert "重复来电，请回电[电话]" in timeline.text
    for answer in (listed, one, timeline):
        assert_clean(answer.text)
    assert (centre["title"], centre["cancel_reason"]) == (TITLE, f"重复来电，请回电{MOBILE}")


def test_board_and_case_page__an_assessor_reads_the_text_redacted(
    console: Console, told: Told
) -> None:
    assessor = console.as_("assessor")

    pages = [
        assessor.get("/console/cases"),
        assessor.get(f"/console/cases/{told.excluded}"),
        assessor.get(f"/console/cases/{told.excluded}/print"),
    ]
    centre = console.as_("cc_district").get(f"/console/cases/{told.excluded}")

    assert [p.status_code for p in pages] == [200, 200, 200]
    for page in pages:
        assert REDACTED in page.text
        assert_clean(page.text)
    assert TITLE in centre.text


def test_callback_notes__an_assessor_reads_them_redacted_the_centre_in_clear(
    api, console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case_id = make_case(session, rt, city, clock, state=CaseState.RESOLVED).id
    note = f"无人接听，居民另留号码{MOBILE}"
    body = {"trigger": Trigger.CALLBACK, "outcome": CallbackOutcome.NO_ANSWER, "note": note}
    recorded = api.post(f"/api/v1/cases/{case_id}/transitions", "cc_s1", json=body)
    assert recorded.status_code == 200, recorded.text

    listed = api.get(f"/api/v1/cases/{case_id}/callbacks", "assessor")
    timeline = api.get(f"/api/v1/cases/{case_id}/events", "assessor")
    page = console.as_("assessor").get(f"/console/cases/{case_id}")
    centre = api.get(f"/api/v1/cases/{case_id}/callbacks", "cc_s1").json()

    assert [c["note"] for c in listed.json()] == ["无人接听，居民另留号码[电话]"]
    assert "无人接听，居民另留号码[电话]" in page.text
    for answer in (listed, timeline, page):
        assert_clean(answer.text)
    assert [c["note"] for c in centre] == [note]
