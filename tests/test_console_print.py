"""Printable sheets: the case sheet (工单) and the supervision notice (督办单)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from engine.clock import ManualClock
from engine.runtime import Runtime
from engine.vocabulary import CaseState
from tests.builders import City, make_case
from tests.fixtures_console import Console


def test_print__the_case_sheet_has_facts_assignments_clocks_in_words_and_timeline(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)

    sheet = console.as_("cc_s1").get(f"/console/cases/{case.id}/print")

    assert sheet.status_code == 200
    assert f"工单 #{case.id}" in sheet.text
    assert 'id="print-case"' in sheet.text
    assert "7个工作日" in sheet.text
    assert "受理登记" in sheet.text  # the timeline
    assert (
        f'href="/console/cases/{case.id}/print"'
        in console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    )


def test_print__the_supervision_notice_lists_the_clocks_past_due(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    on_time = console.as_("cc_s1").get(f"/console/cases/{case.id}/notice").text
    clock.advance(timedelta(hours=3))  # the 2 h accept clocks are past due

    notice = console.as_("cc_s1").get(f"/console/cases/{case.id}/notice")

    assert notice.status_code == 200
    assert f"督办单 #{case.id}" in notice.text
    assert "签收时限" not in on_time.split('id="print-clocks"')[1]
    assert "签收时限" in notice.text.split('id="print-clocks"')[1]
    assert "指挥中心（盖章）" in notice.text


def test_print__a_department_may_not_issue_a_notice_and_another_street_sees_nothing(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)

    dept_notice = console.as_("dept_um").get(f"/console/cases/{case.id}/notice")
    dept_sheet = console.as_("dept_um").get(f"/console/cases/{case.id}/print")
    other = console.as_("cc_s2").get(f"/console/cases/{case.id}/print")

    assert dept_notice.status_code == 403
    assert dept_sheet.status_code == 200
    assert other.status_code == 404
    assert case.title not in other.text
