"""The dispatch tools in a real browser (headless Chromium): the command centre ticks reported
cases on the board and dispatches them to one lead with an instruction, reassigns one of them
and supervises it by hand; the new lead's clerk sees the instruction in the task inbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser_support import DESKTOP, browser, shoot
from tests.builders import make_case
from tests.fixtures_console import Console, password_of

__all__ = ["browser"]  # the fixture, imported so pytest finds it


@pytest.fixture
def site(console: Console, live_server: str) -> str:
    return live_server


@pytest.fixture
def centre(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def log_in(context, site: str, who: str):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"{site}/console/login")
    page.get_by_label("用户名").fill(who)
    page.get_by_label("密码").fill(password_of(who))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/console/login" not in url)
    return page


def test_journey__bulk_dispatch_reassign_and_supervise_by_hand(  # type: ignore[no-untyped-def]
    site: str, browser, centre, session, rt, city, clock
) -> None:
    um, housing = city.departments[0], city.departments[2]
    first = make_case(session, rt, city, clock, title="景山前街井盖松动")
    second = make_case(session, rt, city, clock, title="景山前街路面塌陷")
    page = log_in(centre, site, "cc_s1")
    page.goto(f"{site}/console/cases?state=reported")
    page.get_by_label(f"选择工单 #{first.id}", exact=True).check()
    page.get_by_label(f"选择工单 #{second.id}", exact=True).check()
    page.locator("#bulk-lead").select_option(str(um.id))
    page.get_by_label("派单意见（选填）").fill("请今日内到现场核实")
    shoot(page, "bulk-dispatch")
    page.get_by_role("button", name="派出所选工单").click()
    page.wait_for_url(f"{site}/console/cases/dispatch")
    assert page.locator("#bulk-summary").inner_text() == "派出 2 件，未派出 0 件。"
    assert page.locator("#bulk-outcomes tr.went").count() == 2
    shoot(page, "bulk-dispatch-summary")

    # 改派: the first case goes to the housing commission instead, with a reason and an order.
    page.goto(f"{site}/console/cases/{first.id}")
    page.locator("summary", has_text="改派").click()
    form = page.locator("details.action[open]")
    form.get_by_label("新的主办部门").select_option(str(housing.id))
    form.get_by_label("理由").fill("井盖属住建委管辖")
    form.get_by_label("派单意见").fill("请住建委牵头更换井盖")
    form.get_by_role("button", name="改派").click()
    page.wait_for_url(lambda url: "done=reassign" in url)
    assert page.locator("#case-state").inner_text() == "已派单"
    assert page.locator("#assignments-h + div").get_by_text("请住建委牵头更换井盖").count() == 1

    # 督办 by hand: pressed on the new lead, with the reason in the timeline.
    page.locator("summary", has_text="人工督办").click()
    form = page.locator("details.action[open]")
    form.get_by_label("理由").fill("群众反映强烈，列入督办")
    form.get_by_role("button", name="人工督办").click()
    page.wait_for_url(lambda url: "done=manual_supervise" in url)
    assert page.get_by_text("群众反映强烈，列入督办").count() >= 1
    shoot(page, "case-reassigned-supervised")

    clerk_context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        clerk = log_in(clerk_context, site, "dept_housing")
        assert clerk.url == f"{site}/console/tasks"
        row = clerk.locator(f'tr:has(a[href="/console/cases/{first.id}"])')
        assert "派单意见: 请住建委牵头更换井盖" in row.inner_text()
        shoot(clerk, "tasks-instruction")
    finally:
        clerk_context.close()
