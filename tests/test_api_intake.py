"""Intake over HTTP as its one-hop route answers it: the token decides before the body does, every
answer gives its database connection back, a token's use is recorded, the intake count in Redis
keeps its window, and the statements an intake sends stay within the budget."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import event, select

from api.errors import RateLimited
from api.ratelimit import KEY_PREFIX, IntakeLimiter
from engine.auth import ApiToken, revoke_token
from engine.deadline.models import Deadline
from engine.event.models import Event
from engine.event.service import verify_chains
from tests.fixtures_api import row_counts
from tests.test_api_errors import assert_problem, raise_body

URL = "/api/v1/cases"


def _revoke(session, city, who: str, now) -> None:
    token_id = session.scalar(
        select(ApiToken.id).where(ApiToken.account_id == city.accounts[who].id)
    )
    revoke_token(session, token_id=token_id, now=now)
    session.commit()


@pytest.mark.parametrize("token", ["unknown", "revoked"])
def test_raise__a_token_that_does_not_hold_is_401_even_when_the_body_is_invalid_too(
    api, city, session, clock, session_factory, token
):
    if token == "revoked":
        _revoke(session, city, "resident", clock.now())
    headers = {"Authorization": f"Bearer {api.tokens['resident'] if token == 'revoked' else 'x'}"}
    before = row_counts(session_factory)

    answer = api.client.post(URL, json={"area_id": "nowhere"}, headers=headers)

    assert_problem(answer, 401, "unauthenticated")
    assert row_counts(session_factory) == before


def test_raise__without_a_token_and_with_an_invalid_body_is_401(api, city):
    assert_problem(api.client.post(URL, json={"area_id": "nowhere"}), 401, "unauthenticated")


@pytest.mark.parametrize("authorization", [None, "Bearer x"])
def test_raise__a_body_that_is_not_json_is_400_whatever_the_token(api, authorization):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization

    answer = api.client.post(URL, content=b'{"title": ', headers=headers)

    assert_problem(answer, 400, "malformed-request")


def test_raise__a_valid_token_with_an_invalid_body_is_422_and_the_tokens_use_is_recorded(
    api, city, session_factory, clock
):
    answer = api.post(URL, "resident", json={"area_id": city.grids[0].id})

    body = assert_problem(answer, 422, "validation")

    assert any(e["loc"] == ["body", "title"] for e in body["errors"])
    with session_factory() as s:
        used = s.scalar(
            select(ApiToken.last_used_at).where(ApiToken.account_id == city.accounts["resident"].id)
        )
    assert used == clock.now()


def test_raise__every_answer_gives_its_database_connection_back(api, city, engine):
    checked_out = engine.pool.checkedout()
    api.app.state.limiter.limit = 1
    unknown = {"Authorization": "Bearer x"}
    statuses = [
        api.post(URL, "resident", json=raise_body(city)).status_code,
        api.post(URL, "resident", json=raise_body(city)).status_code,  # over the limit
        api.post(URL, "resident", json={"area_id": city.grids[0].id}).status_code,
        api.client.post(URL, json=raise_body(city), headers=unknown).status_code,
        api.client.post(URL, json={}, headers=unknown).status_code,
        api.post(URL, "dept_um", json=raise_body(city)).status_code,
        api.post(URL, "resident2", json=raise_body(city, area_id=10**6)).status_code,
    ]

    assert statuses == [201, 429, 422, 401, 401, 403, 422]
    assert engine.pool.checkedout() == checked_out


# With the token lookup: on PostgreSQL the lookup also takes the case's id, and the case, its
# event and its clock are one statement; SQLite adds the case and its event and clock apart.
INTAKE_BUDGET = {"postgresql": 2, "sqlite": 4}


def test_raise__sends_at_most_its_statements_with_the_token_lookup(api, city, engine):
    api.post(URL, "resident", json=raise_body(city))  # the token's use is recorded once, here
    counts: Counter[str] = Counter()

    def count(*_: Any) -> None:
        counts["statements"] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = api.post(URL, "resident", json=raise_body(city))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert answer.status_code == 201
    assert counts["statements"] <= INTAKE_BUDGET[engine.dialect.name]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the plain request, taken straight to the hop
        {"Content-Type": "application/json; charset=utf-8"},  # the full handler
        {"Idempotency-Key": "k-1"},  # the full handler, and no id taken with the token
    ],
)
def test_raise__every_way_in_writes_the_case_its_chain_and_its_clock(
    api, city, session, session_factory, headers
):
    refused = api.post(URL, "resident", json=raise_body(city, area_id=10**6), headers=headers)
    answer = api.post(URL, "resident", json=raise_body(city), headers=headers)

    assert refused.status_code == 422
    assert answer.status_code == 201
    case_id = answer.json()["id"]
    assert answer.headers["Location"] == f"{URL}/{case_id}"
    with session_factory() as fresh:
        assert list(verify_chains(fresh)) == []
    events = session.scalars(select(Event).where(Event.case_id == case_id)).all()
    clocks = session.scalars(select(Deadline).where(Deadline.case_id == case_id)).all()
    assert [e.seq for e in events] == [1]
    assert len(clocks) == 1
    assert api.get(f"{URL}/{case_id}", "resident").json() == answer.json()


# -- the intake count in Redis ----------------------------------------------------------------


def test_intake_count__refuses_over_the_limit_in_one_window_and_counts_anew_in_the_next(
    api_redis,
):
    limiter = IntakeLimiter(api_redis, limit=2, window=60)
    limiter.hit("account:7", now=6000.0)
    limiter.hit("account:7", now=6059.0)
    with pytest.raises(RateLimited, match="more than 2 cases in 60 s; retry in 1 s"):
        limiter.hit("account:7", now=6059.5)
    limiter.hit("account:7", now=6060.0)  # the next window
    limiter.hit("account:8", now=6059.9)  # another client


def test_intake_count__a_window_key_expires_after_its_window(api_redis):
    IntakeLimiter(api_redis, limit=5, window=60).hit("account:7", now=6000.0)

    key = f"{KEY_PREFIX}account:7:100"
    assert int(api_redis.get(key) or 0) == 1
    assert 0 < api_redis.ttl(key) <= 61


def test_intake_count__goes_on_after_redis_forgot_its_scripts(api_redis):
    limiter = IntakeLimiter(api_redis, limit=2, window=60)
    limiter.hit("account:7", now=6000.0)
    api_redis.script_flush()  # as after a restart of Redis
    limiter.hit("account:7", now=6001.0)
    with pytest.raises(RateLimited, match="more than 2 cases"):
        limiter.hit("account:7", now=6002.0)
    assert api_redis.ttl(f"{KEY_PREFIX}account:7:100") > 0


def test_intake__while_redis_is_down_is_taken_without_the_limit_and_says_so(
    api, city, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    api.app.state.limiter.limit = 1
    api.app.state.limiter.redis = redis.Redis.from_url(
        f"unix://{tmp_path}/nothing-listens.sock", socket_timeout=1
    )

    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        statuses = [api.post(URL, "resident", json=raise_body(city)).status_code for _ in range(2)]

    assert statuses == [201, 201]
    assert "intake rate limit not enforced: Redis unavailable" in caplog.text
