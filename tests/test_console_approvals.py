"""The command centre's approvals queue (/console/approvals): objections and pending requests,
oldest first, with counts per kind, age and the review's own clock; scoped like the board."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Trigger
from tests.builders import City, make_case
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console
from tests.test_console_case_page import submit, task_action


def _objection_and_extension(console: Console, session: Session, rt: Runtime, city: City,
                             clock: ManualClock) -> tuple[int, int]:  # fmt: skip
    objected = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    action = task_action(console, "dept_um", objected.id, Trigger.OBJECT)
    assert (
        submit(console, "dept_um", objected.id, action, reason="不属于本部门职责").status_code
        == 303
    )
    clock.advance(timedelta(minutes=30))
    extended = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    ask = f"/console/cases/{extended.id}/do/request_extension"
    asked = submit(
        console, "dept_um", extended.id, ask, reason="需要协调物业", extend_by="3个工作日"
    )
    assert asked.status_code == 303
    clock.advance(timedelta(hours=1))
    return objected.id, extended.id


def test_approvals__lists_objections_and_requests_oldest_first_with_counts_age_and_clock(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    objected, extended = _objection_and_extension(console, session, rt, city, clock)

    page = console.as_("cc_s1").get("/console/approvals")

    assert page.status_code == 200
    rows = re.findall(r'<tr data-kind="(\w+)" data-case="(\d+)">', page.text)
    assert rows == [("objection", str(objected)), ("extension", str(extended))]
    assert re.search(r'data-kind="objection">退单申请<span class="n">1</span>', page.text)
    assert re.search(r'data-kind="extension">延期申请<span class="n">1</span>', page.text)
    assert "不属于本部门职责" in page.text
    assert "3个工作日" in page.text
    ages = re.findall(r'data-label="已等待">([^<]*)<', page.text)
    assert ages == ["2小时", "1小时"]  # oldest first, each its own age
    assert "data-due=" in page.text  # its review clock counts down
    assert "无审核时限" in page.text  # an extension request has no clock of its own
    board = console.as_("cc_s1").get("/console/cases").text
    assert re.search(r'href="/console/approvals">待审批<span class="n">2</span>', board)


def test_approvals__the_kind_filter_keeps_the_counts_of_every_kind(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    _, extended = _objection_and_extension(console, session, rt, city, clock)

    page = console.as_("cc_s1").get("/console/approvals", params={"kind": "extension"})
    unknown = console.as_("cc_s1").get("/console/approvals", params={"kind": "nonsense"})

    assert re.findall(r'<tr data-kind="(\w+)" data-case="(\d+)">', page.text) == [
        ("extension", str(extended))
    ]
    assert re.search(r'data-kind="objection">退单申请<span class="n">1</span>', page.text)
    assert len(re.findall(r"<tr data-kind=", unknown.text)) == 2  # an unknown kind shows all


def test_approvals__another_street_sees_none_and_a_department_may_not_look(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    _objection_and_extension(console, session, rt, city, clock)
    for who in ("cc_s2", "dept_um"):
        console.as_(who)  # logged in first: a login session is a row too
    before = row_counts(session_factory)

    other = console.as_("cc_s2").get("/console/approvals")
    dept = console.as_("dept_um").get("/console/approvals")

    assert other.status_code == 200
    assert "没有等待审批的事项" in other.text
    assert dept.status_code == 403
    assert "待审批" not in console.as_("dept_um").get("/console/cases").text
    assert row_counts(session_factory) == before


def test_approvals__in_english(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    _objection_and_extension(console, session, rt, city, clock)
    client = console.as_("cc_s1")
    client.cookies.set("whistle_lang", "en")

    page = client.get("/console/approvals").text

    assert "Objection" in page
    assert "3 working days" in page
    assert "no review clock" in page
