"""Console: the case board (counters, search in Chinese, scope), the intake form and the overdue
board, through the real app and database, logged in through the real login form."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.case.escalation import apply_step
from engine.case.models import Case
from engine.clock import ManualClock
from engine.deadline.models import Deadline
from engine.runtime import Runtime
from engine.vocabulary import CaseState, Priority, Source, Trigger
from tests.builders import City, make_case
from tests.fixtures_api import ROLES, row_counts
from tests.fixtures_console import Console

CASE_LINK = re.compile(r'<td data-label="[^"]+"><a href="/console/cases/(\d+)">#')


def listed(html: str) -> list[int]:
    """The case ids of the board's list, in order."""
    return [int(i) for i in CASE_LINK.findall(html)]


def counter(html: str, state: str) -> tuple[int, bool]:
    """A state counter's number, and whether it is the current one."""
    found = re.search(
        rf'<a href="/console/cases\?state={state}"( aria-current="true")?>[^<]*'
        rf'<span class="n">(\d+)</span>',
        html,
    )
    assert found, f"no counter for {state}"
    return int(found[2]), bool(found[1])


def intake(console: Console, who: str, **fields: str) -> dict[str, str]:
    """The fields of a filled-in intake form, with the form's own CSRF token and key."""
    page = console.as_(who).get("/console/cases/new").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert key
    assert token
    return {"csrf_token": token[1], "idempotency_key": key[1], "workflow": "hotline"} | fields


# -- the board ----------------------------------------------------------------------------------


def test_board__renders_for_every_role(console: Console) -> None:
    for who in ROLES:
        page = console.as_(who).get("/console/cases")
        assert page.status_code == 200, who
        assert "工单看板" in page.text


def test_board__counts_by_state_and_lists_newest_first(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    old = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    new = make_case(session, rt, city, clock, title="井盖丢失")
    page = console.as_("cc_s1").get("/console/cases").text
    assert listed(page) == [new.id, old.id]
    assert counter(page, CaseState.REPORTED) == (1, False)
    assert counter(page, CaseState.ASSIGNED) == (1, False)
    assert counter(page, CaseState.RESOLVED) == (0, False)
    assert '<a href="/console/cases" aria-current="true">全部<span class="n">2</span>' in page
    assert "井盖丢失" in page
    assert "已派单" in page
    assert "一般" in page
    assert "东华门街道网格" in page  # the area
    assert "剩余 " in page  # the soonest running clock, counted down


def test_board__a_counter_filters_the_list_and_is_marked_current(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    assigned = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    make_case(session, rt, city, clock)
    page = console.as_("cc_s1").get("/console/cases", params={"state": "assigned"}).text
    assert listed(page) == [assigned.id]
    assert counter(page, CaseState.ASSIGNED) == (1, True)
    assert 'aria-current="true">全部' not in page


def test_board__chinese_search_finds_a_case_by_a_chinese_word(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    noisy = make_case(
        session, rt, city, clock, title="夜间施工噪音扰民", description="朝阳路88号工地23点后仍施工"
    )
    make_case(session, rt, city, clock)
    client = console.as_("cc_s1")
    assert listed(client.get("/console/cases", params={"q": "噪音"}).text) == [noisy.id]
    assert listed(client.get("/console/cases", params={"q": "工地"}).text) == [noisy.id]
    found = client.get("/console/cases", params={"q": "下水道"}).text
    assert listed(found) == []
    assert "没有符合条件的工单" in found
    assert 'value="噪音"' in client.get("/console/cases", params={"q": "噪音"}).text


def test_board__filters_by_priority_and_by_overdue(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    urgent = make_case(session, rt, city, clock, priority=Priority.URGENT)  # dispatch in 15 min
    normal = make_case(session, rt, city, clock)  # dispatch in 2 h
    clock.advance(timedelta(minutes=30))
    client = console.as_("cc_s1")
    assert listed(client.get("/console/cases?priority=urgent").text) == [urgent.id]
    assert listed(client.get("/console/cases?overdue=yes").text) == [urgent.id]
    assert listed(client.get("/console/cases?overdue=no").text) == [normal.id]


def test_board__pages_through_the_list(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    made = [make_case(session, rt, city, clock, step=timedelta(seconds=1)).id for _ in range(21)]
    client = console.as_("cc_s1")
    first = client.get("/console/cases").text
    assert listed(first) == made[::-1][:20]
    assert "第 1 页，共 2 页（21 条）" in first
    assert 'href="/console/cases?page=2"' in first
    assert listed(client.get("/console/cases?page=2").text) == [made[0]]


def test_board__scopes_departments_and_streets_to_their_own_cases(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    dispatched = make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    other_street = make_case(session, rt, city, clock, street=1)
    assert listed(console.as_("dept_um").get("/console/cases").text) == [dispatched.id]
    housing = console.as_("dept_housing").get("/console/cases").text
    assert listed(housing) == []
    assert counter(housing, CaseState.ASSIGNED) == (0, False)
    assert listed(console.as_("cc_s2").get("/console/cases").text) == [other_street.id]
    assert listed(console.as_("cc_district").get("/console/cases").text) == [
        other_street.id,
        dispatched.id,
    ]


def test_board__bad_query_values_show_a_clear_message_on_the_page(console: Console) -> None:
    client = console.as_("cc_s1")
    for query, field in [
        ("state=bogus", "状态"),
        ("page=abc", "页码"),
        ("overdue=maybe", "超期"),
        ("priority=whenever", "优先级"),
        ("q=" + "字" * 101, "关键词"),
    ]:
        page = client.get(f"/console/cases?{query}")
        assert page.status_code == 422, query
        assert page.headers["content-type"].startswith("text/html")
        assert "搜索条件有误" in page.text, query
        assert f"{field}:" in page.text, query


# -- intake -------------------------------------------------------------------------------------


def test_intake_form__offers_the_workflows_categories_and_areas_of_the_visitor(
    console: Console, city: City
) -> None:
    page = console.as_("cc_s1").get("/console/cases/new")
    assert page.status_code == 200
    text = page.text
    areas = text.split('id="area_id"')[1].split("</select>")[0]
    assert f'<option value="{city.grids[0].id}">' in areas  # its own street's grid
    assert f'<option value="{city.grids[1].id}">' not in areas  # not the other street's
    assert "└ 路灯" in text  # a sub-category, indented under its parent
    assert '<option value="hotline"' in text
    assert '<option value="street_whistle"' in text
    assert '<option value="hotline" selected>' in text  # a centre mostly takes hotline calls
    for who in ("admin", "cc_district", "grid_c1", "resident"):
        assert console.as_(who).get("/console/cases/new").status_code == 200, who
    grid = console.as_("grid_c1").get("/console/cases/new").text
    assert '<option value="street_whistle" selected>' in grid
    assert '<option value="whistle" selected>' in grid
    grid_areas = grid.split('id="area_id"')[1].split("</select>")[0]
    assert f'<option value="{city.communities[0].id}">' in grid_areas
    assert f'<option value="{city.streets[0].id}">' not in grid_areas  # above its community


def test_intake_form__is_refused_to_roles_that_may_not_raise(console: Console) -> None:
    for who in ("dept_um", "assessor", "unit"):
        page = console.as_(who).get("/console/cases/new")
        assert page.status_code == 403, who
        assert "无权进行此操作" in page.text


def test_intake__raises_the_case_and_opens_its_page(
    console: Console, city: City, session: Session
) -> None:
    client = console.as_("cc_s1")
    answer = client.post(
        "/console/cases/new",
        data=intake(
            console,
            "cc_s1",
            title="噪音扰民",
            description="夜间施工",
            area_id=str(city.grids[0].id),
            category_id=str(city.sub_category.id),
            address="东华门大街1号",
            reporter_name="张三",
            reporter_phone="13800001234",
            source=Source.HOTLINE,
        ),
    )
    assert answer.status_code == 303
    case = session.scalars(select(Case)).one()
    assert answer.headers["location"] == f"/console/cases/{case.id}?done=raise"
    assert (case.title, case.state, case.priority, case.source) == (
        "噪音扰民",
        CaseState.REPORTED,
        Priority.NORMAL,
        Source.HOTLINE,
    )
    assert (case.reporter_name, case.address, case.category_id) == (
        "张三",
        "东华门大街1号",
        city.sub_category.id,
    )
    page = client.get(answer.headers["location"]).text
    assert "工单已受理" in page
    assert "张三" in page
    assert "13800001234" in page


def test_intake__missing_title_re_shows_the_form_with_the_error_and_the_input(
    console: Console, city: City, session_factory: sessionmaker[Session]
) -> None:
    fields = intake(console, "cc_s1", description="井盖丢失了", area_id=str(city.grids[0].id))
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post("/console/cases/new", data=fields)
    assert answer.status_code == 422
    assert 'id="err-title">必填。' in answer.text
    assert "井盖丢失了</textarea>" in answer.text  # what was typed is kept
    assert f'<option value="{city.grids[0].id}" selected>' in answer.text
    assert row_counts(session_factory) == before


def test_intake__each_wrong_field_is_named_and_nothing_is_raised(
    console: Console, city: City, session_factory: sessionmaker[Session]
) -> None:
    for who in ("cc_s1", "resident"):
        console.as_(who)  # log in first: a login session is a row too
    before = row_counts(session_factory)
    grid = str(city.grids[0].id)
    cases = [
        ({"title": "长" * 201, "area_id": grid}, "title", "最多 200 个字符"),
        ({"title": "井盖丢失", "area_id": str(city.grids[1].id)}, "area_id", "不在您的辖区内"),
        ({"title": "井盖丢失", "area_id": str(city.departments[0].id)}, "area_id", "不在您的辖区"),
        (
            {"title": "井盖丢失", "area_id": grid, "category_id": "99999"},
            "category_id",
            "类别不存在",
        ),
        ({"title": "井盖丢失", "area_id": "abc"}, "area_id", "请选择有效的一项"),
        (
            {"title": "井盖丢失", "area_id": grid, "reporter_phone": "call me"},
            "reporter_phone",
            "格式不对",
        ),
        ({"title": "井盖丢失", "area_id": grid, "priority": "whenever"}, "priority", "有效的一项"),
        (
            {"title": "井盖丢失", "area_id": grid, "workflow": "no_such_flow"},
            "workflow",
            "不能登记此流程",
        ),
        (
            {"title": "井盖丢失", "area_id": grid, "reporter_account": "dept_um"},
            "reporter_account",
            "没有这个居民账号",
        ),
    ]
    for fields, field, message in cases:
        answer = console.as_("cc_s1").post(
            "/console/cases/new", data=intake(console, "cc_s1", **fields)
        )
        assert answer.status_code == 422, fields
        assert f'id="err-{field}">' in answer.text, fields
        assert message in answer.text, fields
    resident = console.as_("resident").post(
        "/console/cases/new",
        data=intake(console, "resident", title="井盖丢失", area_id=grid, workflow="street_whistle"),
    )
    assert resident.status_code == 422
    assert 'id="err-workflow">' in resident.text
    assert row_counts(session_factory) == before


def test_intake__without_the_csrf_token_is_refused(
    console: Console, city: City, session_factory: sessionmaker[Session]
) -> None:
    fields = intake(console, "cc_s1", title="井盖丢失", area_id=str(city.grids[0].id))
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post("/console/cases/new", data=fields | {"csrf_token": "x"})
    assert answer.status_code == 403
    assert row_counts(session_factory) == before


def test_intake__a_double_submit_raises_one_case(
    console: Console, city: City, session: Session
) -> None:
    fields = intake(
        console,
        "grid_c1",
        workflow="street_whistle",
        title="井盖丢失",
        area_id=str(city.grids[0].id),
        source=Source.WHISTLE,
    )
    client = console.as_("grid_c1")
    first = client.post("/console/cases/new", data=fields)
    second = client.post("/console/cases/new", data=fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(session.scalars(select(Case)).all()) == 1
    changed = client.post("/console/cases/new", data=fields | {"title": "另一件事"})
    assert changed.status_code == 422
    assert "此表单已提交过" in changed.text
    assert len(session.scalars(select(Case)).all()) == 1


# -- the overdue board --------------------------------------------------------------------------


def late_ids(html: str) -> list[int]:
    """Case ids of the "past due" table, in order."""
    late = html.split('id="late-h"')[1].split('id="soon-h"')[0]
    return [int(i) for i in re.findall(r'<a href="/console/cases/(\d+)">#', late)]


def test_overdue__orders_running_clocks_by_lateness_as_the_clock_moves(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    normal = make_case(session, rt, city, clock)  # dispatch due in 2 h
    urgent = make_case(session, rt, city, clock, priority=Priority.URGENT)  # due in 15 min
    client = console.as_("cc_s1")
    first = client.get("/console/overdue").text
    assert late_ids(first) == []
    assert "没有超期的时限" in first
    assert "24 小时内到期" in first
    assert f"#{urgent.id} " in first.split('id="soon-h"')[1]
    clock.advance(timedelta(minutes=30))
    assert late_ids(client.get("/console/overdue").text) == [urgent.id]
    clock.advance(timedelta(hours=3))
    page = client.get("/console/overdue").text
    assert late_ids(page) == [urgent.id, normal.id]  # the more late first
    assert "已超期 3小时" in page
    assert "派单时限" in page
    assert "共 2 条" in page


def test_overdue__shows_the_department_and_the_ladder_step_reached(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    accept = session.scalars(
        select(Deadline).where(Deadline.case_id == case.id, Deadline.clock == "accept")
    ).one()
    now = clock.advance(timedelta(hours=3))
    for index in (0, 1):  # the reminder at 80 %, then overdue at 100 %
        assert apply_step(session=session, rt=rt, deadline_id=accept.id, step_index=index, now=now)
    page = console.as_("cc_s1").get("/console/overdue").text
    row = page.split('id="late-h"')[1].split("签收时限")[1].split("</tr>")[0]
    assert "城管委" in row
    assert '<span class="badge warn">超时</span>' in row
    assert 'class="late">已超期 ' in row


def test_overdue__is_scoped_and_only_for_command_centres(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    mine = make_case(session, rt, city, clock, priority=Priority.URGENT)
    make_case(session, rt, city, clock, priority=Priority.URGENT, street=1)
    clock.advance(timedelta(hours=1))
    assert late_ids(console.as_("cc_s1").get("/console/overdue").text) == [mine.id]
    assert len(late_ids(console.as_("cc_district").get("/console/overdue").text)) == 2
    assert len(late_ids(console.as_("admin").get("/console/overdue").text)) == 2
    for who in ("dept_um", "assessor", "grid_c1", "resident"):
        assert console.as_(who).get("/console/overdue").status_code == 403, who


def test_overdue__a_met_clock_leaves_the_board(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock
) -> None:
    case = make_case(session, rt, city, clock, priority=Priority.URGENT)
    clock.advance(timedelta(hours=1))
    client = console.as_("cc_s1")
    assert late_ids(client.get("/console/overdue").text) == [case.id]
    page = client.get(f"/console/cases/{case.id}").text
    version = re.search(
        r'action="/console/cases/\d+/do/dispatch".*?name="version" value="(\d+)"', page, re.S
    )
    assert version
    done = client.post(
        f"/console/cases/{case.id}/do/{Trigger.DISPATCH}",
        data={
            "csrf_token": console.csrf("cc_s1"),
            "version": version[1],
            "lead": str(city.departments[0].id),
        },
    )
    assert done.status_code == 303
    assert case.id not in late_ids(client.get("/console/overdue").text)
