"""Smart intake in a real browser (headless Debian Chromium through Playwright, against a real
uvicorn): the suggestions panel follows what the operator types, picks the category only when
the model is confident, the category filter narrows the list, and "raise and merge" makes the
call a repeat report of the duplicate in one click."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.case.service import CaseDraft, raise_case
from engine.insight.service import train
from tests.browser_support import DESKTOP, browser, shoot
from tests.fixtures_console import Console, password_of
from tests.test_insight_faces import _history

__all__ = ["browser"]  # the fixture, imported so pytest finds it


@pytest.fixture
def site(console: Console, live_server: str) -> str:
    return live_server


@pytest.fixture
def context(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    made = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    yield made
    made.close()


def test_intake__suggestions_follow_typing_and_merge_in_one_click(  # type: ignore[no-untyped-def]
    site: str, context, session, rt, city, clock
) -> None:
    _history(session, rt, city, clock)
    train(session=session, now=clock.now())
    first = raise_case(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"),
        draft=CaseDraft(title="东华门大街3号路灯坏了不亮", area_id=city.grids[0].id,
                        reporter_phone="13800138000"),
        now=clock.now() - timedelta(hours=2),
    )  # fmt: skip
    page = context.new_page()
    page.goto(f"{site}/console/login")
    page.get_by_label("用户名").fill("cc_s1")
    page.get_by_label("密码").fill(password_of("cc_s1"))
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/console/login" not in url)
    page.goto(f"{site}/console/cases/new")
    panel = page.locator("#suggestions")

    page.get_by_label("标题").type("东华门大街3号路灯坏了不亮", delay=5)
    page.locator("#suggestions[data-round]").wait_for(state="attached")
    panel.locator("#suggested-categories").wait_for()
    assert city.sub_category.name_zh in panel.locator("#suggested-categories li").first.inner_text()
    confident = panel.locator("[data-suggestions]").get_attribute("data-confident")
    category = page.locator("#category_id")
    # Chosen for the operator exactly when the model is confident.
    assert category.input_value() == (confident or "")

    page.get_by_label("描述").type("路边电线裸露可能触电", delay=5)
    panel.locator("#suggested-priority").wait_for()
    assert "触电" in panel.locator("#suggested-priority").inner_text()

    # The filter box narrows the long category list; Enter picks the first match.
    box = page.locator("#category_filter")
    assert box.is_visible()
    box.fill(city.sub_category.name_zh)
    box.press("Enter")
    assert category.input_value() == str(city.sub_category.id)

    page.get_by_label("区域").select_option(str(city.grids[0].id))
    page.get_by_label("反映人电话").fill("13800138000")
    merge = panel.get_by_role("button", name=f"登记并并入 #{first.id}")
    merge.wait_for()
    shoot(page, "intake-suggestions")
    merge.click()
    page.wait_for_url(lambda url: "done=merge" in url)
    assert page.locator("#case-state").inner_text() == "已并单"
    page.goto(f"{site}/console/cases/{first.id}")
    assert "被重复反映 1 次" in page.locator("#repeats").inner_text()
