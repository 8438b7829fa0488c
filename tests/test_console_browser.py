"""The console in a real browser (headless Chromium through Playwright) against a real uvicorn
server over this test's database and the embedded Redis: the journeys of issue 7, keyboard use,
phone width, and a screenshot of each main page in ``tests/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser_support import DESKTOP, PHONE, browser, shoot
from tests.fixtures_console import Console, password_of

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


def test_phone_width__the_menu_and_pages_fit(site: str, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    try:
        page = log_in(context, site, "cc_s1")
        page.goto(f"{site}/console/workflows")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1  # nothing pushes the page sideways
        shoot(page, "phone-workflows")
    finally:
        context.close()
