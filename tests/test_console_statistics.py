"""The statistics page (/console/statistics): volume by day and week, by category, street and
source, top categories and the on-time trend, scoped, with a CSV export and clear date errors."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.runtime import Runtime
from engine.vocabulary import CaseState
from tests.builders import City, make_case
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console

DATES = {"from": "2026-03-01", "to": "2026-03-31"}


def _three_cases(session: Session, rt: Runtime, city: City, clock: ManualClock) -> None:
    make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    clock.advance(timedelta(days=1))
    make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)


def test_statistics__counts_by_day_week_category_street_and_source(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    _three_cases(session, rt, city, clock)

    page = console.as_("cc_district").get("/console/statistics", params=DATES)

    assert page.status_code == 200
    assert "共受理 3 件" in page.text
    for chart in ("stat-day", "stat-on-time", "stat-category", "stat-street", "stat-source"):
        assert f'id="{chart}-title"' in page.text
    assert "东华门" in page.text  # a street's bar
    assert "12345热线" in page.text or "网站" in page.text  # a source in words, not its code
    weeks = re.findall(r"<tr><td>(2026-\d\d-\d\d)</td><td class=\"num\">(\d+)</td>", page.text)
    assert sum(int(n) for _, n in weeks) == 3


def test_statistics__are_scoped_to_the_visitors_street(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    _three_cases(session, rt, city, clock)

    mine = console.as_("cc_s1").get("/console/statistics", params=DATES).text

    assert "共受理 2 件" in mine


def test_statistics__csv_has_every_table_with_bilingual_headers(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    _three_cases(session, rt, city, clock)

    answer = console.as_("cc_district").get("/console/statistics.csv", params=DATES)

    assert answer.status_code == 200
    assert (
        'filename="statistics-2026-03-01-2026-03-31.csv"' in answer.headers["content-disposition"]
    )
    assert answer.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][0] == "表 Table"
    tables = {r[0] for r in rows[1:]}
    assert tables == {"按日 by day", "按周 by week", "类别 category", "街道 street",
                      "来源 source", "按时办结 on time"}  # fmt: skip
    assert sum(int(r[4]) for r in rows if r[0] == "按日 by day") == 3


def test_statistics__bad_dates_are_a_clear_error_in_the_page_language_and_change_nothing(
    console: Console, session_factory: sessionmaker[Session]
) -> None:
    client = console.as_("cc_s1")
    before = row_counts(session_factory)

    garbled = client.get("/console/statistics", params={"from": "March", "to": "2026-03-31"})
    backwards = client.get("/console/statistics", params={"from": "2026-04-01", "to": "2026-03-01"})
    too_long = client.get("/console/statistics", params={"from": "2020-01-01", "to": "2026-03-01"})

    assert garbled.status_code == 422
    assert "日期有误" in garbled.text
    assert backwards.status_code == 422
    assert too_long.status_code == 422
    assert "at most 366 days" in too_long.text
    assert row_counts(session_factory) == before
