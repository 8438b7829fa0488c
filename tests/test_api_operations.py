"""Operations endpoints: ``/healthz`` tells whether the database and Redis answer; ``/metrics``
exposes request counts and latencies per route template, cases by state, overdue clocks and the
depth of every RQ queue, in the Prometheus text format."""

from __future__ import annotations

import re
from datetime import timedelta

import redis
from fastapi.testclient import TestClient
from rq import Queue

from api.app import create_app
from engine.db import make_engine, make_session_factory
from engine.vocabulary import CaseState
from tests.builders import make_case


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, or None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else None


def test_healthz__is_200_when_the_database_and_redis_answer(api):
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz__is_503_when_redis_does_not_answer(api_settings, session_factory, rt, tmp_path):
    dead = redis.Redis.from_url(f"unix://{tmp_path}/no-redis.sock", socket_timeout=1)
    app = create_app(api_settings, session_factory=session_factory, runtime=rt, redis=dead)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "unreachable"}


def test_healthz__is_503_when_the_database_does_not_answer(api_settings, api_redis, rt, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/missing-dir/whistle.db")
    app = create_app(
        api_settings, session_factory=make_session_factory(engine), runtime=rt, redis=api_redis
    )
    with TestClient(app) as client:
        response = client.get("/healthz")
    engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_metrics__count_requests_by_route_template_and_status(api, session, rt, city, clock):
    case = make_case(session, rt, city, clock)
    for _ in range(3):
        api.get(f"/api/v1/cases/{case.id}", "cc_s1")
    api.get("/api/v1/cases/999999", "cc_s1")
    api.get("/api/v1/cases", None)
    response = api.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    route = "/api/v1/cases/{case_id}"
    total = "whistle_http_requests_total"
    assert sample(text, total, method="GET", route=route, status="200") == 3
    assert sample(text, total, method="GET", route=route, status="404") == 1
    assert sample(text, total, method="GET", route="/api/v1/cases", status="401") == 1
    histogram = "whistle_http_request_duration_seconds"
    labels = {"method": "GET", "route": route, "status": "200"}
    assert sample(text, f"{histogram}_count", **labels) == 3
    assert sample(text, f"{histogram}_bucket", **labels, le="+Inf") == 3
    assert sample(text, f"{histogram}_sum", **labels) > 0


def test_metrics__cases_by_state_and_overdue_clocks(api, session, rt, city, clock):
    make_case(session, rt, city, clock)
    make_case(session, rt, city, clock, state=CaseState.ASSIGNED)
    text = api.client.get("/metrics").text
    assert sample(text, "whistle_cases", state=CaseState.REPORTED) == 1
    assert sample(text, "whistle_cases", state=CaseState.ASSIGNED) == 1
    assert sample(text, "whistle_cases", state=CaseState.CLOSED) == 0
    assert sample(text, "whistle_deadlines_overdue", clock="dispatch") is None
    clock.advance(timedelta(hours=3))
    text = api.client.get("/metrics").text
    assert sample(text, "whistle_deadlines_overdue", clock="dispatch") == 1
    assert sample(text, "whistle_deadlines_overdue", clock="accept") == 2


def test_metrics__report_the_depth_of_every_rq_queue(api, api_redis):
    queue = Queue("escalations", connection=api_redis)
    for n in range(3):
        queue.enqueue("builtins.len", [n])
    text = api.client.get("/metrics").text
    assert sample(text, "whistle_queue_depth", queue="escalations") == 3
