"""The case board's filters (category, source, department, street, date range, overdue), its
sort order, and the export of its list as CSV and XLSX under the same filters."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import timedelta

import openpyxl
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Source
from tests.builders import City, make_case
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console

LISTED = re.compile(r'<td data-label="编号"><a href="/console/cases/(\d+)">')


def _cases(session: Session, rt: Runtime, city: City, clock: ManualClock) -> dict[str, int]:
    light = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, title="路灯不亮",
                      category_id=city.sub_category.id, source=Source.HOTLINE)  # fmt: skip
    clock.advance(timedelta(days=2))
    other = make_case(session, rt, city, clock, state=CaseState.REPORTED, title="噪声扰民",
                      source=Source.WEB)  # fmt: skip
    far = make_case(session, rt, city, clock, state=CaseState.REPORTED, title="井盖松动",
                    street=1, source=Source.APP)  # fmt: skip
    return {"light": light.id, "other": other.id, "far": far.id}


def listed(console: Console, **params: str) -> list[int]:
    page = console.as_("cc_district").get("/console/cases", params=params)
    assert page.status_code == 200, page.text
    return [int(i) for i in LISTED.findall(page.text)]


def test_board__filters_by_category_source_department_street_and_dates(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    ids = _cases(session, rt, city, clock)
    made = clock.now().date()

    assert listed(console, category_id=str(city.sub_category.id)) == [ids["light"]]
    assert listed(console, source="web") == [ids["other"]]
    assert listed(console, department_id=str(city.departments[0].id)) == [ids["light"]]
    assert listed(console, street_id=str(city.streets[1].id)) == [ids["far"]]
    assert ids["light"] not in listed(console, **{"from": made.isoformat()})
    assert listed(console, to=(made - timedelta(days=1)).isoformat()) == [ids["light"]]
    assert listed(console, sort="created_at")[0] == ids["light"]
    assert listed(console, sort="-created_at")[-1] == ids["light"]


def test_board__a_bad_filter_is_a_422_naming_it_and_changes_nothing(
    console: Console, session_factory: sessionmaker[Session]
) -> None:
    client = console.as_("cc_s1")
    before = row_counts(session_factory)

    bad_date = client.get("/console/cases", params={"from": "March"})
    bad_source = client.get("/console/cases", params={"source": "carrier pigeon"})
    bad_sort = client.get("/console/cases", params={"sort": "; DROP TABLE cases"})

    assert bad_date.status_code == 422
    assert "受理起始日" in bad_date.text
    assert bad_source.status_code == 422
    assert bad_sort.status_code == 422
    assert row_counts(session_factory) == before


def test_board__exports_its_filtered_list_as_csv_and_xlsx(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    ids = _cases(session, rt, city, clock)
    client = console.as_("cc_s1")  # street 1's case is not theirs
    board = client.get("/console/cases", params={"source": "hotline"}).text
    assert 'href="/console/cases.csv?source=hotline"' in board

    as_csv = client.get("/console/cases.csv")
    as_xlsx = client.get("/console/cases.xlsx", params={"source": "hotline"})

    assert as_csv.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号 No.", "标题 Title", "状态 State"]
    assert {int(r[0]) for r in rows[1:]} == {ids["light"], ids["other"]}
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [ids["light"]]
