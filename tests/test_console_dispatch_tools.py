"""Console: the dispatch tools — instructions in the dispatch dialog shown to the department,
reassign and add-assisting forms, 催办/督办 by hand, and bulk dispatch from the board with its
summary; every refusal shows its message and changes nothing."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.notification.service import inbox
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, AssignmentState, CaseState, Trigger
from tests.builders import City, assignments_of, make_case, reload
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console
from tests.test_console_case_page import HIDDEN, form_in, submit
from tests.test_console_english import _chinese_left, _typed


def test_dispatch_dialog__instructions_reach_the_assignments_the_task_page_and_the_case_page(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    um, water, _housing = city.departments
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    answer = submit(
        console, "cc_s1", case.id, f"/console/cases/{case.id}/do/dispatch",
        lead=str(um.id), assisting=[str(water.id)], lead_instruction="请牵头到现场核实",
        instruction="请配合排查管线",
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    orders = {a.org_id: a.instruction for a in assignments_of(session, case.id)}
    assert orders == {um.id: "请牵头到现场核实", water.id: "请配合排查管线"}
    tasks = console.as_("dept_water").get("/console/tasks").text
    assert "派单意见: 请配合排查管线" in tasks
    assert "请牵头到现场核实" not in tasks
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert "派单意见: 请牵头到现场核实" in page
    assert "派单意见: 请配合排查管线" in page


def test_dispatch_dialog__a_lead_instruction_without_a_lead_is_refused_and_changes_nothing(
    console: Console, session: Session, session_factory: sessionmaker[Session], rt: Runtime,
    city: City, clock: ManualClock,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    console.as_("cc_s1")  # logged in before counting: a login is a row
    before = row_counts(session_factory)
    answer = submit(console, "cc_s1", case.id, f"/console/cases/{case.id}/do/dispatch",
                    lead_instruction="请牵头")  # fmt: skip
    assert answer.status_code == 422
    assert "lead_instruction" in answer.text
    assert row_counts(session_factory) == before


def test_reassign_form__replaces_the_lead_and_the_timeline_says_why(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    action = f"/console/cases/{case.id}/do/reassign"
    form = form_in(console.as_("cc_s1").get(f"/console/cases/{case.id}").text, action)
    assert f'<option value="{housing.id}">' in form
    assert 'name="reason"' in form
    assert 'name="instruction"' in form
    answer = submit(console, "cc_s1", case.id, action, lead=str(housing.id),
                    reason="原派单部门不对口", instruction="请住建委牵头")  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert reload(session, case.id).state == CaseState.ASSIGNED
    lead = next(a for a in assignments_of(session, case.id) if a.org_id == housing.id)
    assert (lead.role, lead.state, lead.instruction) == (
        AssignmentRole.LEAD, AssignmentState.ASSIGNED, "请住建委牵头"
    )  # fmt: skip
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert "改派" in page
    assert "原派单部门不对口" in page


def test_reassign_form__to_the_same_lead_or_without_a_reason_is_refused_and_changes_nothing(
    console: Console, session: Session, session_factory: sessionmaker[Session], rt: Runtime,
    city: City, clock: ManualClock,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    action = f"/console/cases/{case.id}/do/reassign"
    console.as_("cc_s1")
    before = row_counts(session_factory)
    same = submit(console, "cc_s1", case.id, action, lead=str(city.departments[0].id),
                  reason="原派单部门不对口")  # fmt: skip
    assert same.status_code == 422
    assert "already the lead" in same.text
    no_reason = submit(console, "cc_s1", case.id, action, lead=str(city.departments[2].id))
    assert no_reason.status_code == 422
    assert row_counts(session_factory) == before
    assert reload(session, case.id).state == CaseState.ASSIGNED


def test_reassign_form__on_a_stale_page_is_409_and_changes_nothing(
    console: Console, session: Session, session_factory: sessionmaker[Session], rt: Runtime,
    city: City, clock: ManualClock,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    action = f"/console/cases/{case.id}/do/reassign"
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    hidden = dict(HIDDEN.findall(form_in(page, action)))
    # Someone else moves the case after the page was drawn.
    lead = assignments_of(session, case.id)[0]
    submit(console, "cc_s1", case.id, f"/console/cases/{case.id}/do/manual_remind",
           assignment_id=str(lead.id), reason="请尽快签收")  # fmt: skip
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(
        action, data=hidden | {"lead": str(city.departments[2].id), "reason": "原部门不对口"}
    )
    assert answer.status_code == 409
    assert row_counts(session_factory) == before


def test_add_assisting_form__adds_the_ticked_departments(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    housing = city.departments[2]
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    answer = submit(console, "cc_s1", case.id, f"/console/cases/{case.id}/do/add_assisting",
                    assisting=[str(housing.id)], instruction="请核查房屋结构")  # fmt: skip
    assert answer.status_code == 303, answer.text
    added = [a for a in assignments_of(session, case.id) if a.org_id == housing.id]
    assert [(a.role, a.instruction) for a in added] == [
        (AssignmentRole.ASSISTING, "请核查房屋结构")
    ]
    again = submit(console, "cc_s1", case.id, f"/console/cases/{case.id}/do/add_assisting",
                   assisting=[str(housing.id)])  # fmt: skip
    assert again.status_code == 422
    assert "already has an open task" in again.text
    assert re.search(rf'name="assisting" value="{housing.id}" checked', again.text)


def test_manual_supervise_form__presses_the_chosen_department_and_tells_it(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead, helper = assignments_of(session, case.id)
    action = f"/console/cases/{case.id}/do/manual_supervise"
    form = form_in(console.as_("cc_s1").get(f"/console/cases/{case.id}").text, action)
    assert f'<option value="{lead.id}"' in form
    assert f'<option value="{helper.id}"' in form
    answer = submit(console, "cc_s1", case.id, action, assignment_id=str(helper.id),
                    reason="久拖未办，列入督办")  # fmt: skip
    assert answer.status_code == 303, answer.text
    (note,) = inbox(session=session, actor=city.actor(session, "dept_water"))
    assert note.kind == Trigger.SUPERVISE
    session.expire_all()
    assert (
        next(a for a in assignments_of(session, case.id) if a.id == helper.id).supervise_count == 1
    )
    # The department sees no such form, and cannot post one.
    assert action not in console.as_("dept_um").get(f"/console/cases/{case.id}").text


def test_board__ticks_reported_cases_only_and_only_for_the_command_centre(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    waiting = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    moving = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    board = console.as_("cc_s1").get("/console/cases").text
    assert f'name="case" value="{waiting.id}:{waiting.version}"' in board
    assert f'value="{moving.id}:' not in board
    assert 'action="/console/cases/dispatch"' in board
    assert (
        'action="/console/cases/dispatch"' not in console.as_("assessor").get("/console/cases").text
    )


def test_bulk_dispatch__dispatches_each_case_alone_and_lists_what_failed_and_why(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    routed = make_case(session, rt, city, clock, state=CaseState.REPORTED,
                       category_id=city.category.id)  # fmt: skip
    stale = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    foreign = make_case(session, rt, city, clock, state=CaseState.REPORTED, street=1)
    board = console.as_("cc_s1").get("/console/cases").text
    hidden = dict(HIDDEN.findall(form_in(board, "/console/cases/dispatch")))
    answer = console.as_("cc_s1").post(
        "/console/cases/dispatch",
        data=hidden | {
            "case": [f"{routed.id}:{routed.version}", f"{stale.id}:{stale.version + 3}",
                     f"{foreign.id}:{foreign.version}"],
            "instruction": "请按职责办理",
        },
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert "派出 1 件，未派出 2 件。" in answer.text
    assert f'<tr data-case="{routed.id}" class="went">' in answer.text
    assert "已派至城管委" in answer.text
    assert "请刷新后重试" in answer.text
    assert "未找到或不在您的辖区" in answer.text
    assert (
        foreign.title
        not in answer.text.split('id="bulk-outcomes"')[1].split(f'data-case="{foreign.id}"')[1][
            :200
        ]
    )
    assert reload(session, routed.id).state == CaseState.ASSIGNED
    assert reload(session, stale.id).state == CaseState.REPORTED
    assert [a.instruction for a in assignments_of(session, routed.id)] == ["请按职责办理"] * 2


def test_bulk_dispatch__to_one_chosen_lead_in_english_has_no_chinese(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    cases = [make_case(session, rt, city, clock, state=CaseState.REPORTED) for _ in range(2)]
    client = console.as_("cc_s1")
    client.cookies.set("whistle_lang", "en")
    hidden = dict(HIDDEN.findall(form_in(client.get("/console/cases").text,
                                         "/console/cases/dispatch")))  # fmt: skip
    answer = client.post(
        "/console/cases/dispatch",
        data=hidden | {"case": [f"{c.id}:{c.version}" for c in cases],
                       "lead": str(city.departments[2].id)},
    )  # fmt: skip
    assert answer.status_code == 200
    assert "2 dispatched, 0 not dispatched." in answer.text
    assert "Dispatched to Housing" in answer.text
    assert _chinese_left(answer.text, _typed(session)) == []


def test_bulk_dispatch__a_wrong_form_or_role_dispatches_nothing(
    console: Console, session: Session, session_factory: sessionmaker[Session], rt: Runtime,
    city: City, clock: ManualClock,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    token, dept_token = console.csrf("cc_s1"), console.csrf("dept_um")
    before = row_counts(session_factory)
    good = f"{case.id}:{case.version}"
    for fields in (
        {},
        {"case": "abc"},
        {"case": f"{case.id}"},
        {"case": [good, good]},
        {"case": good, "lead": "x"},
        {"case": good, "instruction": "长" * 2001},
    ):
        answer = console.as_("cc_s1").post(
            "/console/cases/dispatch", data={"csrf_token": token} | fields
        )
        assert answer.status_code == 422, fields
        assert 'id="bulk-refused"' in answer.text
    no_token = console.as_("cc_s1").post("/console/cases/dispatch", data={"case": good})
    assert no_token.status_code == 403
    dept = console.as_("dept_um").post(
        "/console/cases/dispatch", data={"csrf_token": dept_token, "case": good}
    )
    assert dept.status_code == 403
    assert row_counts(session_factory) == before
    assert reload(session, case.id).state == CaseState.REPORTED
