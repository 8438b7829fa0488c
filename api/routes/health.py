"""Operations: ``/healthz`` (database and Redis reachable) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from rq import Queue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ClockDep, RedisDep, SessionDep
from api.metrics import exposition, gauge
from api.schemas import Health
from engine.case.queries import cases_by_state, overdue_by_clock

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database or Redis is unreachable"}},
    summary="Liveness and dependencies",
)
def healthz(session: SessionDep, client: RedisDep) -> JSONResponse:
    """200 when the database answers and Redis (if configured) answers; else 503."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        log.warning("health: database unreachable: %s", exc)
        database = "unreachable"
    if client is None:
        redis_state = "not configured"
    else:
        try:
            client.ping()
            redis_state = "ok"
        except redis.RedisError as exc:
            log.warning("health: Redis unreachable: %s", exc)
            redis_state = "unreachable"
    healthy = database == "ok" and redis_state != "unreachable"
    body = Health(status="ok" if healthy else "unavailable", database=database, redis=redis_state)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {PROMETHEUS: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def metrics(
    request: Request, session: SessionDep, client: RedisDep, clock: ClockDep
) -> PlainTextResponse:
    """Request counts and latencies by route; cases by state; overdue clocks; queue depth."""
    parts = [
        request.app.state.metrics.lines(),
        gauge("whistle_cases", "Cases by state.", "state", cases_by_state(session)),
        gauge(
            "whistle_deadlines_overdue",
            "Running clocks past their due time, by clock.",
            "clock",
            overdue_by_clock(session, now=clock.now()),
        ),
    ]
    if client is not None:
        try:
            depths = {q.name: q.count for q in Queue.all(connection=client)}
            parts.append(
                gauge("whistle_queue_depth", "Jobs waiting, by RQ queue.", "queue", depths)
            )
        except redis.RedisError as exc:
            log.warning("metrics: queue depth unavailable: %s", exc)
    return PlainTextResponse(exposition(parts), media_type=PROMETHEUS)
