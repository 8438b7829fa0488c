"""Items 2 and 3 of the hardening issue: with Redis away, answers are 503s and logins stay limited.

The login limit counts per username from one client address and per address in all, so nobody
locks a known account out from elsewhere; while Redis cannot count, no password is checked (503).
Endpoints that need Redis answer 503 problem+json with Retry-After, never 500. "Redis away" is a
real client pointed at a socket where nothing listens.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from engine.login import LoginSession
from tests.fixtures_console import csrf_of, password_of
from workers.redis_server import EmbeddedRedis

pytestmark = pytest.mark.faults


def dead_redis(tmp_path: Path) -> redis.Redis:
    return redis.Redis.from_url(f"unix://{tmp_path}/nothing-listens.sock", socket_timeout=1)


def login(app, who: str, password: str, address: str = "198.51.100.7") -> int:
    with TestClient(app, follow_redirects=False, client=(address, 40000)) as client:
        page = client.get("/console/login")
        answer = client.post(
            "/console/login",
            data={"csrf_token": csrf_of(page.text), "username": who, "password": password,
                  "next": "/console"},
        )  # fmt: skip
        return answer.status_code


def test_login__while_redis_is_down_is_refused_with_503_and_opens_no_session(
    console, session, tmp_path
):
    console.api.app.state.login_limiter.redis = dead_redis(tmp_path)

    codes = [login(console.api.app, "cc_s1", "wrong-password-1") for _ in range(13)]
    right = login(console.api.app, "cc_s1", password_of("cc_s1"))

    assert codes == [503] * 13
    assert right == 503
    assert session.scalars(select(LoginSession)).all() == []


def test_login__attempts_from_another_address_do_not_lock_the_account_out(console):
    console.api.app.state.login_limiter.limit = 3
    app = console.api.app

    attacker = [login(app, "cc_s1", "wrong-password-1", "203.0.113.66") for _ in range(5)]
    owner = login(app, "cc_s1", password_of("cc_s1"), "198.51.100.7")

    assert attacker == [401, 401, 401, 429, 429]
    assert owner == 303


def test_login__one_address_trying_many_usernames_is_throttled_in_all(console):
    console.api.app.state.login_limiter.limit = 2  # so 10 attempts per address in all
    app = console.api.app
    names = ["cc_s1", "cc_s2", "dept_um", "dept_water", "grid_c1", "resident"]

    codes = [login(app, who, "wrong-password-1", "203.0.113.66") for who in names for _ in (1, 2)]

    assert codes == [401] * 10 + [429, 429]


def test_login__without_any_redis_configured_is_still_limited_in_this_process(console):
    console.api.app.state.login_limiter.redis = None
    console.api.app.state.login_limiter.limit = 3

    codes = [login(console.api.app, "cc_s1", "wrong-password-1") for _ in range(4)]

    assert codes == [401, 401, 401, 429]


def test_exports__while_redis_is_down_answer_503_problem_json_not_500(api, tmp_path):
    api.app.state.redis = dead_redis(tmp_path)

    answer = api.post(
        "/api/v1/evaluations/exports", "assessor",
        json={"from": "2026-01-01", "to": "2026-03-31", "levels": ["department"], "format": "csv"},
    )  # fmt: skip
    status = api.get("/api/v1/evaluations/exports/report-0123", "assessor")

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["type"].endswith("/unavailable")
    assert "Redis" in answer.json()["detail"]
    assert status.status_code == 503


def test_redis_killed_under_a_running_api__answers_503_then_recovers_and_logins_stay_limited(
    console, tmp_path
):
    app = console.api.app
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        server.watch(interval=0.1)
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        app.state.redis = client
        app.state.login_limiter.redis = client
        app.state.login_limiter.limit = 3
        assert login(app, "cc_s1", "wrong-password-1") == 401
        pid = server.pid
        assert pid is not None

        os.kill(pid, signal.SIGKILL)
        meanwhile = login(app, "cc_s1", "wrong-password-1")
        give_up = time.monotonic() + 20
        while server.restarts == 0:
            assert time.monotonic() < give_up, "Redis was not started again"
            time.sleep(0.05)
        after = [login(app, "cc_s1", "wrong-password-1") for _ in range(4)]
        export = console.api.post(
            "/api/v1/evaluations/exports", "assessor",
            json={"from": "2026-01-01", "to": "2026-03-31", "levels": ["department"],
                  "format": "csv"},
        )  # fmt: skip
        client.close()

    assert meanwhile in (401, 503)  # 503 while it is down; 401 if it was already back
    assert after[-1] == 429  # counted again, by the restarted Redis
    assert export.status_code == 202, export.text
