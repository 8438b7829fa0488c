"""Console login: passwords, the session cookie, CSRF on every form, logout, the language switch."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

import engine.workflow.machine  # noqa: F401  (sets the transitions logger's level)
from engine.login import LoginSession
from tests.fixtures_console import Console, csrf_of, password_of


def test_login__right_password_sets_an_httponly_session_cookie_and_lands_on_the_role_home(
    console: Console,
) -> None:
    client = console.client()
    answer = console.login(client, "cc_s1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/cases"
    cookie = answer.headers["set-cookie"]
    assert "whistle_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert client.get("/console/workflows").status_code == 200


def test_login__department_lands_on_its_task_inbox_and_assessor_on_the_evaluation(
    console: Console,
) -> None:
    assert console.login(console.client(), "dept_um").headers["location"] == "/console/tasks"
    assert console.login(console.client(), "assessor").headers["location"] == "/console/evaluation"


def test_login__wrong_password_or_unknown_user_is_refused_alike_and_opens_no_session(
    console: Console, session: Session
) -> None:
    for who, password in [("cc_s1", "wrong-password-1"), ("nobody", "wrong-password-1")]:
        answer = console.login(console.client(), who, password)
        assert answer.status_code == 401
        assert "用户名或密码错误" in answer.text
    assert session.scalars(select(LoginSession)).all() == []


def test_login__without_the_form_token_is_refused(console: Console, session: Session) -> None:
    client = console.client()
    answer = client.post(
        "/console/login",
        data={"csrf_token": "forged", "username": "cc_s1", "password": password_of("cc_s1")},
    )
    assert answer.status_code == 403
    assert session.scalars(select(LoginSession)).all() == []


def test_login__too_many_attempts_for_one_username_are_throttled(console: Console) -> None:
    console.api.app.state.login_limiter.limit = 3
    codes = [
        console.login(console.client(), "cc_s1", "wrong-password-1").status_code for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_page__without_a_session_redirects_to_login_and_back_after(console: Console) -> None:
    client = console.client()
    answer = client.get("/console/workflows")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/workflows"
    page = client.get(answer.headers["location"])
    logged = client.post(
        "/console/login",
        data={"csrf_token": csrf_of(page.text), "username": "cc_s1",
              "password": password_of("cc_s1"), "next": "/console/workflows"},
    )  # fmt: skip
    assert logged.headers["location"] == "/console/workflows"


def test_login__next_to_another_site_is_ignored(console: Console) -> None:
    client = console.client()
    page = client.get("/console/login?next=//evil.example/")
    assert 'name="next" value="/console"' in page.text


def test_logout__ends_the_session_on_the_server(console: Console) -> None:
    client = console.as_("cc_s1")
    token = console.csrf("cc_s1")
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/console/workflows").status_code == 303  # back to login


def test_logout__without_the_csrf_token_is_refused_and_the_session_lives(console: Console) -> None:
    client = console.as_("cc_s1")
    answer = client.post("/console/logout", data={"csrf_token": "nope"})
    assert answer.status_code == 403
    assert client.get("/console/workflows").status_code == 200


def test_form__from_another_origin_is_refused_even_with_the_token(console: Console) -> None:
    client = console.as_("cc_s1")
    token = console.csrf("cc_s1")
    answer = client.post(
        "/console/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403


def test_language__defaults_to_chinese_and_switches_to_english(console: Console) -> None:
    client = console.as_("cc_s1")
    assert '<html lang="zh-CN">' in client.get("/console/workflows").text
    token = console.csrf("cc_s1")
    answer = client.post(
        "/console/lang", data={"csrf_token": token, "lang": "en", "next": "/console/workflows"}
    )
    assert answer.headers["location"] == "/console/workflows"
    page = client.get("/console/workflows")
    assert '<html lang="en">' in page.text
    assert "Log out" in page.text


def test_pages__carry_a_strict_content_policy(console: Console) -> None:
    page = console.as_("cc_s1").get("/console/workflows")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"


def test_language__a_forged_switch_changes_nothing_and_goes_to_login(console: Console) -> None:
    client = console.as_("cc_s1")
    answer = client.post(
        "/console/lang", data={"csrf_token": "forged", "lang": "en", "next": "/console/cases"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"
    assert "whistle_lang" not in answer.headers.get("set-cookie", "")
    assert '<html lang="zh-CN">' in client.get("/console/workflows").text


def test_console__a_visitor_not_logged_in_is_redirected_and_nothing_is_logged(console, caplog):
    client = console.client()

    with caplog.at_level(logging.INFO):
        answer = client.get("/console", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not [r for r in caplog.records if r.exc_info]


def test_transitions__its_info_lines_are_silenced_but_its_warnings_kept():
    assert logging.getLogger("transitions").getEffectiveLevel() == logging.WARNING
