"""The department's pages of the console: the task inbox (its own assignments with due times and
what to do next) and the notifications inbox (read, filter, page, mark read)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.clock import ManualClock
from engine.notification.models import Notification
from engine.notification.service import notify_step
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, Trigger
from tests.builders import City, assignments_of, make_case
from tests.evaluation_support import fire_on
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console
from tests.test_notifications import deadline_of

ROW = re.compile(r'<tr data-assignment="(\d+)"')
NOTE = re.compile(r'<tr data-notification="(\d+)"')


def assignment_ids(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


def notification_ids(html: str) -> list[int]:
    return [int(i) for i in NOTE.findall(html)]


# ---- the task inbox ----------------------------------------------------------------------------


def test_tasks__the_lead_department_sees_its_assignment_with_case_clocks_and_what_to_do(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, _ = assignments_of(session, case.id)
    accept_by = deadline_of(session, case, "accept", AssignmentRole.LEAD)

    page = console.as_("dept_um").get("/console/tasks")

    assert page.status_code == 200
    assert assignment_ids(page.text) == [lead.id]
    assert f'<a href="/console/cases/{case.id}">#{case.id} 路灯不亮</a>' in page.text
    assert "主办" in page.text
    assert "待签收" in page.text
    assert "已派单" in page.text
    assert f'data-due="{accept_by.due_at.isoformat()}"' in page.text
    assert "签收时限" in page.text
    assert "剩余 2小时" in page.text
    assert "待办：签收、退单申请" in page.text


def test_tasks__each_department_sees_only_its_own_assignments(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    _, helper = assignments_of(session, case.id)

    water = console.as_("dept_water").get("/console/tasks")
    housing = console.as_("dept_housing").get("/console/tasks")

    assert assignment_ids(water.text) == [helper.id]
    assert "协办" in water.text
    assert assignment_ids(housing.text) == []
    assert "没有符合条件的任务" in housing.text


def test_tasks__open_by_default_and_the_state_filter_shows_finished_ones(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    done = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    running = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    done_lead, running_lead = (
        assignments_of(session, done.id)[0],
        assignments_of(session, running.id)[0],
    )
    client = console.as_("dept_um")

    default = client.get("/console/tasks")
    finished = client.get("/console/tasks", params={"state": AssignmentState.DONE})
    everything = client.get("/console/tasks", params={"state": "all"})

    assert assignment_ids(default.text) == [running_lead.id]
    assert assignment_ids(finished.text) == [done_lead.id]
    assert "无需操作" in finished.text
    assert sorted(assignment_ids(everything.text)) == sorted([done_lead.id, running_lead.id])
    assert '<option value="done" selected>' in finished.text


def test_tasks__pages_through_the_inbox(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    for _ in range(3):
        make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    client = console.as_("dept_um")

    first = client.get("/console/tasks", params={"limit": 2})
    second = client.get("/console/tasks", params={"limit": 2, "page": 2})

    assert len(assignment_ids(first.text)) == 2
    assert len(assignment_ids(second.text)) == 1
    assert set(assignment_ids(first.text)).isdisjoint(assignment_ids(second.text))
    assert "第 1 页，共 2 页（3 条）" in first.text
    assert 'href="/console/tasks?state=open&amp;page=2&amp;limit=2" rel="next"' in first.text
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "galaxy"}, "未知的任务状态“galaxy”"),
        ({"page": "zero"}, "页码或每页条数无效"),
        ({"page": "0"}, "页码或每页条数无效"),
        ({"limit": "1000"}, "页码或每页条数无效"),
    ],
)
def test_tasks__a_bad_filter_is_a_clear_422_and_the_default_list(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock,
    params: dict[str, str], message: str,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)

    page = console.as_("dept_um").get("/console/tasks", params=params)

    assert page.status_code == 422
    assert message in page.text
    assert assignment_ids(page.text) == [assignments_of(session, case.id)[0].id]


@pytest.mark.parametrize("who", ["cc_s1", "assessor", "resident", "admin"])
def test_tasks__roles_without_an_inbox_get_a_403_page(console: Console, who: str) -> None:
    page = console.as_(who).get("/console/tasks")

    assert page.status_code == 403
    assert "无权进行此操作" in page.text
    assert "has no task inbox" in page.text


def test_tasks__a_co_building_unit_has_an_inbox_too(console: Console) -> None:
    assert console.as_("unit").get("/console/tasks").status_code == 200


def test_tasks__shows_english_labels_after_the_switch(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    client = console.as_("dept_um")
    client.cookies.set("whistle_lang", "en", path="/console")

    page = client.get("/console/tasks")

    assert "Lead" in page.text
    assert "Accept by" in page.text
    assert "to do: Accept" in page.text
    assert "2 h left" in page.text


def test_tasks__without_a_session_sends_to_login(console: Console) -> None:
    answer = console.client().get("/console/tasks")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/tasks"


# ---- notifications -----------------------------------------------------------------------------


def remind(session: Session, rt: Runtime, case: Case, clock: ManualClock, role: AssignmentRole,
           step: Trigger = Trigger.REMIND) -> Notification:  # fmt: skip
    """Tell the department of ``role``'s assignment about a ladder step on its accept clock."""
    deadline = deadline_of(session, case, "accept", role)
    notify_step(session, case=case, deadline=deadline, step=step, now=clock.advance(timedelta(
        minutes=1)), workflow=rt.workflows.get(case.workflow))  # fmt: skip
    session.commit()
    org_id = session.get(Assignment, deadline.assignment_id).org_id
    stmt = select(Notification).where(Notification.org_id == org_id)
    return session.scalars(stmt.order_by(Notification.id.desc())).first()


def test_notifications__newest_first_unread_marked_with_title_kind_case_and_time(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    first = remind(session, rt, case, clock, AssignmentRole.LEAD)
    second = remind(session, rt, case, clock, AssignmentRole.LEAD, Trigger.OVERDUE)

    page = console.as_("dept_um").get("/console/notifications")

    assert page.status_code == 200
    assert notification_ids(page.text) == [second.id, first.id]
    assert f"【催办】工单{case.id}「路灯不亮」签收时限（限时2小时）" in page.text
    assert ">超时</td>" in page.text
    assert ">催办</td>" in page.text
    assert f'href="/console/cases/{case.id}"' in page.text
    assert page.text.count('class="badge warn">未读') == 2
    assert f'action="/console/notifications/{first.id}/read"' in page.text
    assert '未读<span class="n">2</span>' in page.text


def test_notifications__titles_follow_the_language(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    remind(session, rt, case, clock, AssignmentRole.LEAD)
    client = console.as_("dept_um")
    client.cookies.set("whistle_lang", "en", path="/console")

    page = client.get("/console/notifications")

    assert f"[Reminder] case {case.id} &#39;路灯不亮&#39;: Accept by" in page.text


def test_notifications__mark_read_records_it_and_the_unread_filter_hides_it(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    first = remind(session, rt, case, clock, AssignmentRole.LEAD)
    second = remind(session, rt, case, clock, AssignmentRole.LEAD, Trigger.OVERDUE)
    client = console.as_("dept_um")

    answer = client.post(f"/console/notifications/{first.id}/read", data={
        "csrf_token": console.csrf("dept_um"), "next": "/console/notifications?unread=1",
    })  # fmt: skip
    after = client.get(answer.headers["location"])

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/notifications?unread=1&done={first.id}"
    session.refresh(first)
    assert first.read_at == clock.now()
    assert first.read_by == city.accounts["dept_um"].id
    assert notification_ids(after.text) == [second.id]
    assert "已标为已读" in after.text
    assert notification_ids(client.get("/console/notifications").text) == [second.id, first.id]


def test_notifications__mark_read_goes_back_only_to_the_inbox(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    note = remind(session, rt, case, clock, AssignmentRole.LEAD)

    answer = console.as_("dept_um").post(f"/console/notifications/{note.id}/read", data={
        "csrf_token": console.csrf("dept_um"), "next": "https://evil.example/",
    })  # fmt: skip

    assert answer.headers["location"] == f"/console/notifications?done={note.id}"


def test_notifications__another_departments_notification_is_404_and_stays_unread(
    console: Console, session: Session, session_factory, rt: Runtime, city: City,
    clock: ManualClock,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    theirs = remind(session, rt, case, clock, AssignmentRole.ASSISTING)  # 水务局's
    token = console.csrf("dept_um")
    before = row_counts(session_factory)

    answer = console.as_("dept_um").post(
        f"/console/notifications/{theirs.id}/read", data={"csrf_token": token}
    )
    missing = console.as_("dept_um").post(
        "/console/notifications/999999/read", data={"csrf_token": token}
    )

    assert (answer.status_code, missing.status_code) == (404, 404)
    assert "未找到" in answer.text
    session.refresh(theirs)
    assert theirs.read_at is None
    assert row_counts(session_factory) == before
    assert notification_ids(console.as_("dept_um").get("/console/notifications").text) == []


def test_notifications__mark_read_without_the_csrf_token_is_403_and_changes_nothing(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    note = remind(session, rt, case, clock, AssignmentRole.LEAD)

    answer = console.as_("dept_um").post(f"/console/notifications/{note.id}/read", data={})

    assert answer.status_code == 403
    assert "表单已失效" in answer.text
    session.refresh(note)
    assert note.read_at is None


def test_notifications__pages_by_the_last_id_seen(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    notes = [remind(session, rt, case, clock, AssignmentRole.LEAD) for _ in range(3)]
    client = console.as_("dept_um")

    first = client.get("/console/notifications", params={"limit": 2})
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older is not None
    second = client.get(older[1].replace("&amp;", "&"))

    assert notification_ids(first.text) == [notes[2].id, notes[1].id]
    assert older[1] == f"/console/notifications?before={notes[1].id}&amp;limit=2"
    assert notification_ids(second.text) == [notes[0].id]
    assert 'rel="next"' not in second.text
    assert "回到最新" in second.text


@pytest.mark.parametrize("params", [{"before": "x"}, {"limit": "0"}, {"limit": "500"}])
def test_notifications__bad_paging_values_are_a_clear_422(
    console: Console, params: dict[str, str]
) -> None:
    page = console.as_("dept_um").get("/console/notifications", params=params)

    assert page.status_code == 422
    assert "分页参数无效" in page.text


def test_notifications__the_street_command_centre_reads_its_own_overdue_notices(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    remind(session, rt, case, clock, AssignmentRole.LEAD, Trigger.OVERDUE)  # dept + street

    street = console.as_("cc_s1").get("/console/notifications")
    other = console.as_("cc_s2").get("/console/notifications")

    assert len(notification_ids(street.text)) == 1
    assert "标为已读" in street.text
    assert notification_ids(other.text) == []


def test_notifications__admin_reads_every_inbox_but_marks_none_and_others_get_403(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    note = remind(session, rt, case, clock, AssignmentRole.LEAD)

    admin = console.as_("admin").get("/console/notifications")
    refused = console.as_("assessor").get("/console/notifications")

    assert notification_ids(admin.text) == [note.id]
    assert "/read" not in admin.text
    assert refused.status_code == 403


def test_tasks__an_accepted_assignment_shows_its_new_state_and_next_steps(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = assignments_of(session, case.id)[0]
    fire_on(session, rt, city, clock, lead.id, Trigger.ACCEPT, "dept_um")

    page = console.as_("dept_um").get("/console/tasks")

    assert assignment_ids(page.text) == [lead.id]
    todo = re.search(r'class="todo">待办：([^<]+)</a>', page.text)
    assert "已签收" in page.text
    assert todo is not None
    assert "报到" in todo[1].split("、")
    assert "签收" not in todo[1].split("、")
    assert "联系/报到时限" in page.text
