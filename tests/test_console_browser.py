"""The console in a real browser (headless Chromium through Playwright) against a real uvicorn
server over this test's database and the embedded Redis: the journeys of issue 7, keyboard use,
phone width, and a screenshot of each main page in ``tests/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx2
import openpyxl
import pytest

from engine.case.service import transition_assignment, transition_case
from engine.config import get_settings
from engine.vocabulary import CaseState, Trigger
from tests.browser_support import DESKTOP, PHONE, browser, shoot
from tests.builders import assignments_of, make_case
from tests.evaluation_support import run_reports
from tests.fixtures_console import Console, password_of
from tests.test_console_case_page import png

__all__ = ["browser"]  # the fixture, imported so pytest finds it


@pytest.fixture
def site(console: Console, live_server: str) -> str:
    """The base URL of the console, every account with its password."""
    return live_server


@pytest.fixture
def context(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def log_in(context, site: str, who: str):  # type: ignore[no-untyped-def]
    """A page of ``context`` logged in as ``who`` through the login form."""
    page = context.new_page()
    page.goto(f"{site}/console/login")
    page.get_by_label("用户名").fill(who)
    page.get_by_label("密码").fill(password_of(who))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/console/login" not in url)
    return page


def test_login__by_keyboard_only_then_logout(site: str, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{site}/console/login")
    shoot(page, "login")
    page.keyboard.type("cc_s1")  # the username field has the focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(password_of("cc_s1"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/console/cases")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(lambda url: "/console/login" in url)
    assert page.get_by_role("status").inner_text() == "已退出登录。"
    page.goto(f"{site}/console/cases")
    assert "/console/login" in page.url  # the session is gone on the server


def test_login__wrong_password_shows_the_error_in_chinese(site: str, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{site}/console/login")
    page.get_by_label("用户名").fill("cc_s1")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误。"


def test_language_switch__turns_the_page_english_and_back(site: str, context) -> None:  # type: ignore[no-untyped-def]
    page = log_in(context, site, "cc_s1")
    page.goto(f"{site}/console/workflows")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Workflows"
    page.get_by_role("button", name="中文").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "流程图"


def test_workflows_page__draws_every_diagram_without_network(site: str, context) -> None:  # type: ignore[no-untyped-def]
    page = log_in(context, site, "cc_s1")
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    page.goto(f"{site}/console/workflows")
    diagrams = page.locator(".wf-diagram svg")
    assert diagrams.count() == 6  # three workflows, a case and an assignment machine each
    box = diagrams.first.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 150
    assert outside == []
    shoot(page, "workflows")


@pytest.mark.parametrize(
    ("who", "pages"),
    [
        (
            "cc_s1",
            ["/console/cases", "/console/cases/new", "/console/overdue", "/console/workflows"],
        ),
        ("dept_um", ["/console/tasks", "/console/notifications"]),
        ("assessor", ["/console/evaluation"]),
    ],
)
def test_phone_width__every_main_page_fits_without_sideways_scrolling(  # type: ignore[no-untyped-def]
    site: str, browser, session, rt, city, clock, who: str, pages: list[str]
) -> None:
    make_case(session, rt, city, clock, title="手机上也能看清的工单")
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    try:
        page = log_in(context, site, who)
        for path in pages:
            page.goto(f"{site}{path}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"{path} is {width}px wide on a phone"
            name = path.removeprefix("/console/").replace("/", "-")
            shoot(page, f"phone-{name}")
    finally:
        context.close()


# A well-formed 1×1 PNG (its chunks' CRCs checked by the evidence policy): the "photo" the
# department attaches when it completes.
PNG = png()


@pytest.fixture
def reports_env(db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Report jobs read this test's database and data directory from the settings."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def case_state(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.locator("#case-state").inner_text())


def test_journey__intake_dispatch_report_in_complete_rate_and_find_it_in_the_ranking(  # type: ignore[no-untyped-def]
    site: str, browser, console: Console, city, clock, api_redis, reports_env, tmp_path
) -> None:
    um, water = city.departments[0], city.departments[1]
    centre = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    department = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    assessor = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    try:
        # The command centre takes in a call from a registered resident and dispatches it.
        page = log_in(centre, site, "cc_s1")
        page.goto(f"{site}/console/cases/new")
        page.get_by_label("标题").fill("东华门大街路灯不亮")
        page.get_by_label("描述").fill("东华门大街 12 号门前路灯连续三晚不亮，行人夜间看不清路。")
        page.get_by_label("类别").select_option(str(city.sub_category.id))
        page.get_by_label("区域").select_option(str(city.grids[0].id))
        page.get_by_label("反映人电话").fill("13800000000")
        page.get_by_label("居民账号（可选）").fill("resident")
        shoot(page, "intake")
        page.get_by_role("button", name="提交受理").click()
        page.wait_for_url(lambda url: "/console/cases/" in url and "/new" not in url)
        case_id = int(page.url.split("/console/cases/")[1].split("?")[0])
        assert case_state(page) == "已受理"

        page.get_by_role("button", name="派单").first.click()
        dialog = page.locator("#dlg-dispatch")
        assert dialog.is_visible()
        lead = dialog.get_by_label("主办部门")
        assert lead.input_value() == str(um.id)  # the routing rule's suggestion, preselected
        assert "建议" in lead.locator("option:checked").inner_text()
        assisting = dialog.get_by_label(water.name_zh)
        assert assisting.is_checked()  # the rule suggests the water authority to assist
        assisting.uncheck()  # the operator knows it is a lamp, not a pipe
        assert dialog.get_by_label(um.name_zh, exact=True).is_disabled()  # the lead cannot assist
        lead.select_option(str(water.id))
        assert dialog.get_by_label(water.name_zh).is_disabled()
        assert not dialog.get_by_label(um.name_zh, exact=True).is_disabled()
        lead.select_option(str(um.id))
        shoot(page, "dispatch-dialog")
        dialog.get_by_role("button", name="派单").click()
        page.wait_for_url(lambda url: "done=dispatch" in url)
        assert case_state(page) == "已派单"

        page.goto(f"{site}/console/cases")
        assert (
            page.get_by_role("link", name=f"#{case_id}").count() >= 1
            or page.get_by_text("东华门大街路灯不亮").count() == 1
        )
        shoot(page, "board")
        page.get_by_label("关键词").fill("路灯")
        page.get_by_role("button", name="搜索").click()
        page.wait_for_load_state()
        assert page.get_by_text("东华门大街路灯不亮").count() == 1
        shoot(page, "search")

        # Three hours pass: the 2-hour accept clock is late and tops the overdue board.
        clock.advance(timedelta(hours=3))
        page.goto(f"{site}/console/overdue")
        late = page.locator("section[aria-labelledby=late-h] tbody tr")
        assert late.count() == 1
        assert "东华门大街路灯不亮" in late.first.inner_text()
        assert "签收时限" in late.first.inner_text()
        assert "已超期 1小时" in late.first.inner_text()
        shoot(page, "overdue")

        # The department accepts, reports in on site and completes with a photo.
        clerk = log_in(department, site, "dept_um")
        assert clerk.url == f"{site}/console/tasks"
        shoot(clerk, "tasks")
        clerk.goto(f"{site}/console/notifications")
        shoot(clerk, "notifications")
        clerk.goto(f"{site}/console/cases/{case_id}")
        clerk.get_by_role("button", name="签收").click()
        clerk.wait_for_url(lambda url: "done=accept" in url)
        clerk.locator("summary", has_text="报到").click()
        clerk.locator("details.action[open]").get_by_role("button", name="报到").click()
        clerk.wait_for_url(lambda url: "done=report_in" in url)
        clerk.locator("summary", has_text="提交办结").click()
        form = clerk.locator("details.action[open]")
        form.get_by_label("结果").fill("已更换灯泡并检修线路，路灯恢复正常。")
        form.get_by_label("现场照片（JPEG、PNG 或 PDF）").set_input_files(
            {"name": "lamp.png", "mimeType": "image/png", "buffer": PNG}
        )
        form.get_by_role("button", name="提交办结").click()
        clerk.wait_for_url(lambda url: "done=complete" in url)
        assert case_state(clerk) == "已办结"
        assert clerk.get_by_role("link", name="lamp.png").count() == 1
        shoot(clerk, "case-page")

        # The resident rates it through the API.
        rated = httpx2.post(
            f"{site}/api/v1/cases/{case_id}/transitions",
            headers={"Authorization": f"Bearer {console.api.tokens['resident']}"},
            json={"trigger": "rate", "solved": True, "stars": 5, "comment": "修得很快"},
        )
        assert rated.status_code == 200, rated.text
        assert rated.json()["state"] == "rated"

        # The assessor finds the case behind 城管委's satisfaction rate and downloads the XLSX.
        reader = log_in(assessor, site, "assessor")
        assert reader.url.startswith(f"{site}/console/evaluation")
        shoot(reader, "evaluation")
        reader.locator(
            f'a[href*="unit_id={um.id}"][href*="figure=satisfaction_rate"]'
        ).first.click()
        reader.wait_for_url(lambda url: "/console/evaluation/drill" in url)
        assert reader.get_by_role("link", name=f"#{case_id}").count() >= 1
        shoot(reader, "drilldown")

        reader.goto(f"{site}/console/evaluation")
        reader.get_by_label("Excel 表格（XLSX）").check()
        reader.get_by_role("button", name="生成报表").click()
        reader.wait_for_url(lambda url: "/console/evaluation/exports/report-" in url)
        link = reader.locator("a[data-file]")
        assert not link.is_visible()  # nothing to download until the worker has built it
        assert "排队中 · 0 %" in reader.locator("[data-status]").inner_text()
        run_reports(api_redis)
        link.wait_for(state="visible", timeout=15_000)  # console.js polls and shows the link
        assert "已完成 · 100 %" in reader.locator("[data-status]").inner_text()
        shoot(reader, "export")
        with reader.expect_download() as download_info:
            link.click()
        saved = tmp_path / "evaluation.xlsx"
        download_info.value.save_as(saved)
        book = openpyxl.load_workbook(saved)
        assert any("职能部门" in name for name in book.sheetnames)
    finally:
        for made in (centre, department, assessor):
            made.close()


def test_department__another_departments_case_page_is_404(  # type: ignore[no-untyped-def]
    site: str, context, session, rt, city, clock
) -> None:
    case = make_case(session, rt, city, clock)
    dispatched = transition_case(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"), case_id=case.id,
        trigger=Trigger.DISPATCH, payload={"lead": city.departments[0].id}, now=clock.now(),
    )  # fmt: skip
    assert dispatched.state == CaseState.ASSIGNED
    page = log_in(context, site, "dept_water")
    answer = page.goto(f"{site}/console/cases/{case.id}")
    assert answer is not None
    assert answer.status == 404
    assert page.get_by_role("alert").inner_text() == "未找到该页面或工单。"
    assert page.get_by_text(case.title).count() == 0
    assert page.get_by_role("link", name="待办任务").count() == 1  # the menu stays
    shoot(page, "not-found")


def test_journey__approvals_durations_decisions_statistics_and_english(  # type: ignore[no-untyped-def]
    site: str, browser, console: Console, session, rt, city, clock
) -> None:
    objected = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, assisting=False)
    lead = assignments_of(session, objected.id)[0]
    transition_assignment(
        session=session, rt=rt, actor=city.actor(session, "dept_um"), assignment_id=lead.id,
        trigger=Trigger.OBJECT, payload={"reason": "不属于本部门职责"}, now=clock.now(),
    )  # fmt: skip
    working = make_case(session, rt, city, clock, state=CaseState.REPORTING_IN,
                        title="朝阳门南小街井盖松动")  # fmt: skip
    department = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    centre = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        # The department asks for three more working days, typed in words.
        clerk = log_in(department, site, "dept_um")
        clerk.goto(f"{site}/console/cases/{working.id}")
        clerk.locator("summary", has_text="申请延期").click()
        form = clerk.locator("details.action[open]")
        form.get_by_label("理由").fill("需要协调物业")
        form.get_by_label("延长时长").fill("3 weeks")
        form.get_by_role("button", name="申请延期").click()
        assert "无法识别时长“3 weeks”" in clerk.get_by_role("alert").inner_text()
        form = clerk.locator("details.action[open]")
        form.get_by_label("延长时长").fill("3个工作日")
        form.get_by_role("button", name="申请延期").click()
        clerk.wait_for_url(lambda url: "done=request_extension" in url)
        assert "3个工作日" in clerk.locator("body").inner_text()
        assert "wd" not in clerk.locator("#deadlines-h + .table-wrap").inner_text()

        # The centre finds both waiting in its approvals queue and rules on the objection.
        page = log_in(centre, site, "cc_s1")
        page.get_by_role("link", name="待审批").first.click()
        page.wait_for_url(f"{site}/console/approvals")
        rows = page.locator("table.approvals tbody tr")
        assert rows.count() == 2
        assert "退单申请" in rows.nth(0).inner_text()
        assert "延期申请 3个工作日" in rows.nth(1).inner_text()
        shoot(page, "approvals")
        rows.nth(0).get_by_role("link", name="去审批").click()
        page.wait_for_url(lambda url: f"/console/cases/{objected.id}" in url)
        page.locator("summary", has_text="同意退单").click()
        form = page.locator("details.action[open]")
        box = form.get_by_label("我确认此决定")
        assert box.get_attribute("required") is not None  # the browser will not send it unticked
        form.get_by_label("理由").fill("确不属于城管职责")
        box.check()
        shoot(page, "case-decision")
        form.get_by_role("button", name="同意退单").click()
        page.wait_for_url(lambda url: "done=uphold_objection" in url)
        assert "确不属于城管职责" in page.locator(".timeline").inner_text()

        page.goto(f"{site}/console/statistics?from=2026-03-01&to=2026-03-31")
        assert "共受理 2 件" in page.locator("#stat-total").inner_text()
        shoot(page, "statistics")

        # In English, no page shows Chinese beyond what people typed.
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state()
        typed = ("路灯不亮", "东华门大街12号路灯连续三晚不亮", "朝阳门南小街井盖松动",
                 "不属于本部门职责", "需要协调物业", "确不属于城管职责")  # fmt: skip
        for path in ("/console/cases", "/console/approvals", "/console/statistics",
                     f"/console/cases/{working.id}", "/console/workflows"):  # fmt: skip
            page.goto(f"{site}{path}")
            text = page.locator("body").inner_text()
            for value in (*typed, "中文"):  # the switch names Chinese in Chinese
                text = text.replace(value, "")
            left = "".join(ch for ch in text if "\u3000" <= ch <= "\u9fff")
            assert left == "", (path, left[:80])
        page.goto(f"{site}/console/approvals")
        shoot(page, "approvals-en")
    finally:
        for made in (department, centre):
            made.close()
