"""The FastAPI application factory: the HTTP API under ``/api/v1``, Open311 under ``/open311/v2``.

Everything a route needs is built once here (or handed in by tests and benchmarks) and kept on
``app.state``: the settings, the session factory, the runtime (workflows, calendar), the clock,
the Redis client (may be None: no rate limit then) and the request metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import redis as redis_lib
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api import console, docs, problems
from api.deps import body_media_type
from api.metrics import RequestMetrics
from api.middleware import BodyLimitMiddleware, FormEncodingMiddleware, MetricsMiddleware
from api.open311.routes import router as open311_router
from api.ratelimit import IntakeLimiter
from api.routes import (
    assignments,
    cases,
    evaluations,
    evidence,
    health,
    hotspots,
    notifications,
    organisation,
    suggestions,
    tasks,
    workflows,
)
from api.settings import ApiSettings
from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.db import make_engine, make_session_factory
from engine.deadline.epoch import clock_for
from engine.runtime import Runtime

DESCRIPTION = """\
Case dispatch for 吹哨报到 and 接诉即办. Every request carries an API token
(`Authorization: Bearer <token>`, made by `whistle accounts create`); every answer is scoped by
the token's role and area. Errors are RFC 9457 problem documents with a stable `type`.
Open311 GeoReport v2 is served under `/open311/v2`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    runtime: Runtime | None = None,
    redis: redis_lib.Redis | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the application; anything not handed in is made from the settings."""
    config = ApiSettings.widen(settings)
    owned_engine = None
    if session_factory is None:
        if config.database_url is None:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        owned_engine = make_engine(config.effective_database_url)
        session_factory = make_session_factory(owned_engine)
    if redis is None and config.redis_url:
        redis = redis_lib.Redis.from_url(config.redis_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned_engine is not None:
            owned_engine.dispose()

    app = FastAPI(
        title="Whistle API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from installed assets, not a CDN
        redoc_url=None,
    )
    app.state.settings = config
    app.state.session_factory = session_factory
    app.state.runtime = runtime or Runtime.from_settings(config)
    # One clock for the pages, the API and the workers: at WHISTLE_CLOCK_SPEED=N the app reads
    # the scaled epoch every process shares, so countdowns and the overdue board agree with
    # ``whistle status`` and the sweeper.
    app.state.clock = clock or _clock_of(config, session_factory)
    app.state.redis = redis
    app.state.limiter = IntakeLimiter(
        redis, limit=config.intake_rate_limit, window=config.intake_rate_window
    )
    app.state.metrics = RequestMetrics()
    routers = (
        cases,
        assignments,
        tasks,
        notifications,
        organisation,
        workflows,
        evidence,
        evaluations,
        suggestions,
        hotspots,
        health,
    )
    for module in routers:
        app.include_router(module.router, dependencies=[Depends(body_media_type)])
    app.include_router(open311_router)
    docs.install(app)
    console.install(app)
    problems.install(app)
    _document_errors(app)
    # The last added runs first: metrics see every answer, the 413s of the body cap included;
    # a form's body is read whole only once the cap has passed it.
    app.add_middleware(FormEncodingMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, default=config.max_body_bytes, evidence=config.evidence_max_bytes
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


class _SharedClock:
    """The scaled clock, anchored on first use (the app may be built before the migrations)."""

    def __init__(self, speed: float, session_factory: sessionmaker[Session]) -> None:
        self.speed, self._sessions = speed, session_factory
        self._clock: Clock | None = None

    def now(self) -> datetime:
        if self._clock is None:
            self._clock = clock_for(self.speed, self._sessions)
        return self._clock.now()


def _clock_of(config: ApiSettings, session_factory: sessionmaker[Session]) -> Clock:
    if config.clock_speed == 1:
        return SystemClock()
    return _SharedClock(config.clock_speed, session_factory)


def _document_errors(app: FastAPI) -> None:
    """Generate the OpenAPI document once, with the errors as they really are."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
