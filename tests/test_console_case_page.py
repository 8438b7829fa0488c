"""Console: the case page and its action forms — the whole main line through the forms, the photo
upload, and every refusal (stale page, wrong state, wrong role, bad input, foreign department,
missing CSRF token, a text file as a photo) showing its message and changing nothing."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.settings import ApiSettings
from engine.assignment.models import Assignment
from engine.case.escalation import apply_step
from engine.case.evidence import Evidence
from engine.case.models import Case
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.runtime import Runtime
from engine.vocabulary import AssignmentState, CaseState, Trigger
from tests.builders import City, assignments_of, make_case, reload
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def png() -> bytes:
    """A real 1×1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def form_in(html: str, action: str) -> str:
    """The HTML of the form that posts to ``action``."""
    start = html.index(f'action="{action}"')
    return html[start : html.index("</form>", start)]


def submit(
    console: Console, who: str, case_id: int, action: str, files: Any = None, **fields: Any
) -> httpx2.Response:
    """Open the case page as ``who`` and send the form posting to ``action`` with ``fields``."""
    page = console.as_(who).get(f"/console/cases/{case_id}")
    assert page.status_code == 200, page.text
    hidden = dict(HIDDEN.findall(form_in(page.text, action)))
    return console.as_(who).post(action, data=hidden | fields, files=files)


def task_action(console: Console, who: str, case_id: int, trigger: str) -> str:
    """The address of ``who``'s form for an assignment trigger on the case page."""
    page = console.as_(who).get(f"/console/cases/{case_id}").text
    found = re.search(rf'action="(/console/assignments/\d+/do/{trigger})"', page)
    assert found, f"{who} has no {trigger} form"
    return found[1]


def test_case_page__shows_facts_assignments_clocks_timeline_and_allowed_actions(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(
        session,
        rt,
        city,
        clock,
        state=CaseState.REPORTING_IN,
        reporter_name="张三丰",
        reporter_phone="13812341234",
        address="东华门大街12号",
    )
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}")
    assert page.status_code == 200
    text = page.text
    assert f"工单 #{case.id} · 路灯不亮" in text
    assert "办理中" in text
    assert "接诉即办" in text
    assert "张三丰" in text
    assert "13812341234" in text
    assert "东华门大街12号" in text
    assert "城管委" in text
    assert "水务局" in text
    assert "主办" in text
    assert "协办" in text
    assert "办结时限" in text
    assert "data-due=" in text
    assert "7个工作日" in text
    assert "7wd" not in text
    timeline = text.split('class="timeline"')[1]
    assert timeline.index("受理登记") < timeline.index("派单") < timeline.index("签收")
    assert "主办: 城管委" in timeline
    assert f'action="/console/cases/{case.id}/do/cancel"' not in text  # not from reporting_in
    assert f'action="/console/cases/{case.id}/do/merge"' in text
    water = console.as_("dept_water").get(f"/console/cases/{case.id}").text
    assert "张**" in water
    assert "138****1234" in water
    assert "/do/accept" not in water
    assert "/do/report_in" in water


def test_case_page__of_another_departments_case_is_not_found(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    lead = assignments_of(session, case.id)[0]
    client = console.as_("dept_housing")
    token = console.csrf("dept_housing")
    page = client.get(f"/console/cases/{case.id}")
    assert page.status_code == 404
    assert "未找到" in page.text
    assert "路灯" not in page.text
    assert client.get(f"/console/cases/{case.id + 1000}").status_code == 404
    moves = [
        (f"/console/cases/{case.id}/do/cancel", {"reason": "不是我们的"}),
        (f"/console/assignments/{lead.id}/do/accept", {}),
    ]
    for action, fields in moves:
        answer = client.post(action, data={"csrf_token": token, "version": "1"} | fields)
        assert answer.status_code == 404, action
    assert reload(session, case.id).state == CaseState.ASSIGNED


def test_main_line__raise_dispatch_accept_report_in_and_complete_with_a_photo(
    console: Console, city: City, session: Session, api_settings: ApiSettings
) -> None:
    cc = console.as_("cc_s1")
    new = cc.get("/console/cases/new").text
    hidden = dict(HIDDEN.findall(form_in(new, "/console/cases/new")))
    raised = cc.post(
        "/console/cases/new",
        data=hidden
        | {
            "workflow": "hotline",
            "title": "路灯不亮",
            "area_id": str(city.grids[0].id),
            "category_id": str(city.category.id),
            "source": "hotline",
        },
    )
    assert raised.status_code == 303
    case_id = int(raised.headers["location"].split("/")[-1].split("?")[0])

    dispatch = form_in(
        cc.get(f"/console/cases/{case_id}").text, f"/console/cases/{case_id}/do/dispatch"
    )
    lead = re.search(r'<option value="(\d+)" selected>([^<]+)</option>', dispatch)
    assert lead
    assert lead[1] == str(city.departments[0].id)
    assert "（建议）" in lead[2]
    assisting = re.findall(r'name="assisting" value="(\d+)" checked', dispatch)
    assert assisting == [str(city.departments[1].id)]
    answer = submit(
        console,
        "cc_s1",
        case_id,
        f"/console/cases/{case_id}/do/dispatch",
        lead=lead[1],
        assisting=assisting,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/cases/{case_id}?done=dispatch"
    assert "操作成功：派单" in cc.get(answer.headers["location"]).text

    for who in ("dept_um", "dept_water"):
        for trigger in (Trigger.ACCEPT, Trigger.REPORT_IN):
            action = task_action(console, who, case_id, trigger)
            assert submit(console, who, case_id, action).status_code == 303, (who, trigger)
    action = task_action(console, "dept_water", case_id, Trigger.COMPLETE)
    done = submit(console, "dept_water", case_id, action, result="已配合排查线路")
    assert done.status_code == 303
    action = task_action(console, "dept_um", case_id, Trigger.COMPLETE)
    assert action.endswith("/do/complete")
    done = submit(
        console,
        "dept_um",
        case_id,
        action,
        result="已更换灯泡",
        files={"photo": ("现场.png", png(), "image/png")},
    )
    assert done.status_code == 303, done.text

    assert reload(session, case_id).state == CaseState.RESOLVED
    photo = session.scalars(select(Evidence).where(Evidence.case_id == case_id)).one()
    lead_task = assignments_of(session, case_id)[0]
    assert (lead_task.state, lead_task.evidence) == (AssignmentState.DONE, [photo.ref])
    page = cc.get(f"/console/cases/{case_id}").text
    assert "已办结" in page
    assert "现场.png" in page
    assert "已更换灯泡" in page
    link = f"/console/cases/{case_id}/evidence/{photo.id}"
    assert f'href="{link}"' in page
    file = cc.get(link)
    assert file.status_code == 200
    assert file.content == png()
    assert file.headers["content-type"] == "image/png"
    assert console.as_("dept_housing").get(link).status_code == 404
    assert len(list((api_settings.data_dir / "evidence").iterdir())) == 1


def test_action__on_a_stale_page_is_409_and_changes_nothing(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock)
    action = f"/console/cases/{case.id}/do/cancel"
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    stale = dict(HIDDEN.findall(form_in(page, action)))
    # Meanwhile, someone else (here: the same centre in another tab) dispatches the case.
    dispatched = submit(
        console,
        "cc_s1",
        case.id,
        f"/console/cases/{case.id}/do/dispatch",
        lead=str(city.departments[0].id),
    )
    assert dispatched.status_code == 303
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(
        action, data=stale | {"reason": "重复来电", "confirm": "yes"}
    )
    assert answer.status_code == 409
    assert "工单已被他人更新，请刷新页面后重试" in answer.text
    assert row_counts(session_factory) == before
    assert reload(session, case.id).state == CaseState.ASSIGNED


def test_action__not_open_now_or_not_for_the_role_is_refused_on_the_page(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    lead = assignments_of(session, case.id)[0]
    for who in ("cc_s1", "dept_um"):
        console.as_(who)  # log in first: a login session is a row too
    before = row_counts(session_factory)
    token, version = console.csrf("cc_s1"), str(case.version)
    wrong_state = console.as_("cc_s1").post(
        f"/console/cases/{case.id}/do/{Trigger.CANCEL}",
        data={"csrf_token": token, "version": version, "reason": "重复来电", "confirm": "yes"},
    )
    assert wrong_state.status_code == 409
    assert "当前状态下不能执行此操作" in wrong_state.text
    unknown = console.as_("cc_s1").post(
        f"/console/cases/{case.id}/do/fly_away", data={"csrf_token": token, "version": version}
    )
    assert unknown.status_code == 409
    assert "fly_away" in unknown.text
    not_a_name = console.as_("cc_s1").post(
        f"/console/cases/{case.id}/do/DROP-TABLE", data={"csrf_token": token, "version": version}
    )
    assert not_a_name.status_code == 422
    dept = console.as_("dept_um").post(
        f"/console/assignments/{lead.id}/do/{Trigger.UPHOLD_OBJECTION}",
        data={"csrf_token": console.csrf("dept_um"), "version": str(lead.version)},
    )
    assert dept.status_code == 403
    assert "您无权执行此操作" in dept.text
    assert row_counts(session_factory) == before


def test_action__bad_input_is_422_keeps_the_form_open_with_the_input_and_changes_nothing(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    console.as_("dept_um")
    before = row_counts(session_factory)
    action = f"/console/cases/{case.id}/do/{Trigger.REQUEST_EXTENSION}"
    answer = submit(console, "dept_um", case.id, action, reason="需要协调物业", extend_by="soon")
    assert answer.status_code == 422
    assert "时长填写有误" in answer.text
    assert "无法识别时长“soon”" in answer.text
    assert "Value error" not in answer.text
    assert '<details class="action" id="act-request_extension" open>' in answer.text
    assert "需要协调物业</textarea>" in answer.text
    assert 'value="soon"' in answer.text
    no_reason = submit(console, "dept_um", case.id, action, extend_by="2d")
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    no_version = console.as_("dept_um").post(
        action,
        data={"csrf_token": console.csrf("dept_um"), "reason": "需要协调物业", "extend_by": "2d"},
    )
    assert no_version.status_code == 422
    assert "version" in no_version.text
    assert row_counts(session_factory) == before


def test_action__without_the_csrf_token_is_403_and_changes_nothing(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock)
    console.as_("cc_s1")
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(
        f"/console/cases/{case.id}/do/{Trigger.CANCEL}",
        data={"version": str(case.version), "reason": "重复来电"},
    )
    assert answer.status_code == 403
    assert "表单已失效" in answer.text
    assert row_counts(session_factory) == before


def test_complete__with_a_text_file_as_the_photo_is_refused_and_nothing_changes(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
    api_settings: ApiSettings,
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False)
    lead = assignments_of(session, case.id)[0]
    action = task_action(console, "dept_um", case.id, Trigger.REPORT_IN)
    assert submit(console, "dept_um", case.id, action).status_code == 303
    before = row_counts(session_factory)
    action = f"/console/assignments/{lead.id}/do/complete"
    for name, content, kind in [
        ("note.txt", b"just words", "text/plain"),
        ("fake.png", b"not really a png", "image/png"),
    ]:
        answer = submit(
            console,
            "dept_um",
            case.id,
            action,
            result="已更换灯泡",
            files={"photo": (name, content, kind)},
        )
        assert answer.status_code == 422, name
        assert "照片须为 JPEG、PNG 或 PDF 文件" in answer.text
        assert f'<details class="action" id="act-a{lead.id}-complete" open>' in answer.text
        assert "已更换灯泡</textarea>" in answer.text
    assert row_counts(session_factory) == before
    assert not (api_settings.data_dir / "evidence").exists() or not any(
        Path(api_settings.data_dir / "evidence").iterdir()
    )
    assert reload(session, case.id).state == CaseState.REPORTING_IN


def test_complete__refused_for_its_state_stores_no_photo(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False)
    lead = assignments_of(session, case.id)[0]  # accepted, not yet on site
    console.as_("dept_um")
    before = row_counts(session_factory)
    answer = console.as_("dept_um").post(
        f"/console/assignments/{lead.id}/do/complete",
        data={
            "csrf_token": console.csrf("dept_um"),
            "version": str(lead.version),
            "result": "已更换灯泡",
        },
        files={"photo": ("现场.png", png(), "image/png")},
    )
    assert answer.status_code == 409
    assert "当前状态下不能执行此操作" in answer.text
    assert row_counts(session_factory) == before


def test_objection_review__the_centre_rejects_an_objection_from_the_case_page(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    lead = assignments_of(session, case.id)[0]
    action = task_action(console, "dept_um", case.id, Trigger.OBJECT)
    assert submit(console, "dept_um", case.id, action, reason="不属于本部门职责").status_code == 303
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert "退单审核" in page
    assert "不属于本部门职责" in page
    assert f'action="/console/assignments/{lead.id}/do/uphold_objection"' in page
    action = f"/console/assignments/{lead.id}/do/reject_objection"
    answer = submit(console, "cc_s1", case.id, action, reason="属于城管职责", confirm="yes")
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(Assignment, lead.id).state == AssignmentState.ASSIGNED  # type: ignore[union-attr]
    assert reload(session, case.id).state == CaseState.ASSIGNED


def test_extension__requested_by_the_lead_and_approved_by_the_centre(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    asked = submit(
        console,
        "dept_um",
        case.id,
        f"/console/cases/{case.id}/do/request_extension",
        reason="需要协调物业",
        extend_by="3个工作日",
    )
    assert asked.status_code == 303
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert "延期申请" in page
    assert "延长: 3个工作日" in page
    assert "3wd" not in page
    assert f'action="/console/cases/{case.id}/do/deny_extension"' in page
    approved = submit(
        console, "cc_s1", case.id, f"/console/cases/{case.id}/do/approve_extension", extend_by="2wd"
    )
    assert approved.status_code == 303
    resolve = session.scalars(
        select(Deadline).where(Deadline.case_id == case.id, Deadline.clock == "resolve")
    ).one()
    session.refresh(resolve)
    assert resolve.extension_count == 1


def test_rate__the_resident_rates_a_resolved_case_with_stars(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    rated = submit(
        console,
        "resident",
        case.id,
        f"/console/cases/{case.id}/do/rate",
        solved="true",
        stars="4",
        comment="修得很快",
    )
    assert rated.status_code == 303
    stored = reload(session, case.id)
    assert (stored.state, stored.stars, stored.solved) == (CaseState.RATED, 4, True)
    assert "修得很快" in console.as_("resident").get(f"/console/cases/{case.id}").text


def test_case_page__shows_the_ladder_step_reached_on_the_clock_and_the_timeline(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock)
    deadline = session.scalars(select(Deadline).where(Deadline.case_id == case.id)).one()
    now = clock.advance(timedelta(hours=2))
    apply_step(session=session, rt=rt, deadline_id=deadline.id, step_index=0, now=now)
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert '<span class="badge warn">催办</span>' in page
    step = page.split('class="timeline"')[1].split('<li class="step">')[1].split("</li>")[0]
    assert "催办" in step
    assert "计时环节: " in step


def test_case_page__renders_for_every_role_that_sees_the_case(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.RESOLVED)
    case_row = session.get(Case, case.id)
    assert case_row is not None
    for who in (
        "admin",
        "cc_district",
        "cc_s1",
        "dept_um",
        "dept_water",
        "grid_c1",
        "resident",
        "assessor",
    ):
        assert console.as_(who).get(f"/console/cases/{case.id}").status_code == 200, who
    for who in ("cc_s2", "dept_housing", "grid_c2", "resident2", "assessor_s2", "unit2"):
        assert console.as_(who).get(f"/console/cases/{case.id}").status_code == 404, who
    english = console.as_("assessor")
    english.post(
        "/console/lang",
        data={"csrf_token": console.csrf("assessor"), "lang": "en", "next": "/console/workflows"},
    )
    page = english.get(f"/console/cases/{case.id}").text
    assert "Resolved" in page
    assert "Urban management" in page
    assert "Nothing for you to do" in page


def test_dispatch_dialog__opens_without_script_from_its_fallback_link(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock)  # no category: no routing rule applies
    client = console.as_("cc_s1")
    closed = client.get(f"/console/cases/{case.id}").text
    assert '<dialog id="dlg-dispatch" aria-labelledby="dlg-dispatch-h">' in closed
    assert 'hidden data-open-dialog="dlg-dispatch"' in closed
    assert '<noscript><a class="button primary" href="?act=dispatch#dlg-dispatch">' in closed
    opened = client.get(f"/console/cases/{case.id}?act=dispatch").text
    assert '<dialog id="dlg-dispatch" aria-labelledby="dlg-dispatch-h" open>' in opened
    assert "没有适用的路由规则" in opened
    assert '<option value="" selected>' not in opened  # nothing suggested, nothing preselected
    assert f'<option value="{city.street_department.id}">' in opened  # the street's own
    no_lead = submit(console, "cc_s1", case.id, f"/console/cases/{case.id}/do/dispatch")
    assert no_lead.status_code == 422
    assert '<dialog id="dlg-dispatch" aria-labelledby="dlg-dispatch-h" open>' in no_lead.text
    assert reload(session, case.id).state == CaseState.REPORTED


def test_complete__with_a_photo_over_the_size_cap_is_413_and_nothing_changes(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock,
    session_factory: sessionmaker[Session], api_settings: ApiSettings,
) -> None:  # fmt: skip
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN, assisting=False)
    lead = assignments_of(session, case.id)[0]
    report_in = task_action(console, "dept_um", case.id, Trigger.REPORT_IN)
    assert submit(console, "dept_um", case.id, report_in).status_code == 303
    before = row_counts(session_factory)
    big = png() + b"\x00" * api_settings.evidence_max_bytes
    action = f"/console/assignments/{lead.id}/do/complete"
    photo = {"photo": ("big.png", big, "image/png")}
    answer = submit(console, "dept_um", case.id, action, files=photo, result="已更换灯泡")
    assert answer.status_code == 413
    assert "文件过大" in answer.text
    assert row_counts(session_factory) == before


def test_extension__a_duration_it_cannot_read_is_refused_in_english_on_an_english_page(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN)
    console.as_("dept_um").cookies.set("whistle_lang", "en")
    before = row_counts(session_factory)
    action = f"/console/cases/{case.id}/do/{Trigger.REQUEST_EXTENSION}"

    answer = submit(
        console, "dept_um", case.id, action, reason="need the owner", extend_by="3 weeks"
    )

    assert answer.status_code == 422
    assert "Cannot read the duration &#39;3 weeks&#39;" in answer.text
    assert "Value error" not in answer.text
    assert row_counts(session_factory) == before
    asked = submit(console, "dept_um", case.id, action, reason="need the owner", extend_by="2 days")
    assert asked.status_code == 303
    page = console.as_("dept_um").get(f"/console/cases/{case.id}").text
    assert "Extend by: 2 days" in page


def test_irreversible_decision__without_the_confirmation_or_a_reason_is_refused_and_changes_nothing(
    console: Console,
    session: Session,
    rt: Runtime,
    city: City,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    lead = assignments_of(session, case.id)[0]
    action = task_action(console, "dept_um", case.id, Trigger.OBJECT)
    assert submit(console, "dept_um", case.id, action, reason="不属于本部门职责").status_code == 303
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    uphold = f"/console/assignments/{lead.id}/do/uphold_objection"
    form = form_in(page, uphold)
    assert 'name="confirm" value="yes" required' in form
    assert 'name="reason"' in form
    before = row_counts(session_factory)

    unticked = submit(console, "cc_s1", case.id, uphold, reason="确不属于该部门")
    no_reason = submit(console, "cc_s1", case.id, uphold, confirm="yes")

    assert unticked.status_code == 422
    assert "此决定不可撤销，请勾选确认后再提交" in unticked.text
    assert no_reason.status_code == 422
    assert row_counts(session_factory) == before
    done = submit(console, "cc_s1", case.id, uphold, reason="确不属于该部门", confirm="yes")
    assert done.status_code == 303
    timeline = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    assert "理由: 确不属于该部门" in timeline.split('class="timeline"')[1]


def test_merge__asks_a_reason_and_links_both_ways(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    original = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    duplicate = make_case(session, rt, city, clock, state=CaseState.REPORTED)
    merge = f"/console/cases/{duplicate.id}/do/merge"

    answer = submit(console, "cc_s1", duplicate.id, merge, into=str(original.id),
                    reason="同一地点同一诉求", confirm="yes")  # fmt: skip

    assert answer.status_code == 303
    there = console.as_("cc_s1").get(f"/console/cases/{original.id}").text
    here = console.as_("cc_s1").get(f"/console/cases/{duplicate.id}").text
    assert f'<a href="/console/cases/{duplicate.id}">#{duplicate.id} ' in there
    assert "并入本单的重复工单" in there
    assert f'<a href="/console/cases/{original.id}">#{original.id}</a>' in here
    assert "同一地点同一诉求" in here
