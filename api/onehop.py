"""Routes that do all their work in one hop to the thread pool: the hottest write, intake.

With ``SessionDep`` and ``ActorDep``, FastAPI runs the session's opening, the token lookup, the
route and the session's closing each in a hop of its own. A route here is ``async`` instead: its
dependencies only read the request (``TokenDep``), and ``in_one_hop`` looks the token up, runs
the route's work in the same session, and closes it, in one hop. What the caller sees does not
change: ``OneHopRoute`` answers a body that fails validation with 401 when the token does not
hold, as a route with ``ActorDep`` does (it looks the token up before the body is validated).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from api.deps import bearer, close_session
from api.ratelimit import IntakeLimiter
from engine.access import Actor
from engine.auth import actor_and_case_id_for_token, actor_for_token
from engine.clock import Clock
from engine.db import reads_autocommit
from engine.errors import Unauthenticated
from engine.runtime import Runtime

R = TypeVar("R")
_TOKEN = "whistle.bearer_token"  # the request's token, once TokenDep has seen it


async def bearer_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The bearer token as sent (401 when there is none); ``in_one_hop`` looks it up."""
    if credentials is None:
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
    request.scope[_TOKEN] = credentials.credentials
    return credentials.credentials


TokenDep = Annotated[str, Depends(bearer_token)]


@dataclass(frozen=True)
class Caller:
    """The actor of the token, the session it was read in (the route's work continues its
    transaction), and what a write needs from ``app.state``; with ``case_id``, the id taken
    for the case the caller raises (PostgreSQL, when the hop asked for one)."""

    session: Session
    actor: Actor
    rt: Runtime
    clock: Clock
    limiter: IntakeLimiter
    case_id: int | None = None


def _caller(state: State, token: str, *, case_id: bool = False) -> Caller:
    session: Session = state.session_factory()
    try:
        # The lookup and the reads of the work open no transaction; its writes do, or are one
        # statement that commits by itself (PostgreSQL; see ``reads_autocommit``).
        reads_autocommit(session)
        now = state.clock.now()
        if case_id:
            actor, new_id = actor_and_case_id_for_token(session, token, now=now)
        else:
            actor, new_id = actor_for_token(session, token, now=now), None
    except BaseException:
        close_session(session)
        raise
    return Caller(session, actor, state.runtime, state.clock, state.limiter, new_id)


async def in_one_hop(
    request: Request, token: str, work: Callable[[Caller], R], *, case_id: bool = False
) -> R:
    """Look the token up (``Unauthenticated``) and run ``work`` as its caller, in one hop to the
    thread pool; the session is closed when ``work`` ends. With ``case_id`` the lookup also
    takes the id of the case ``work`` will raise (``Caller.case_id``)."""
    state = request.app.state

    def hop() -> R:
        caller = _caller(state, token, case_id=case_id)
        try:
            return work(caller)
        finally:
            close_session(caller.session)

    return await anyio.to_thread.run_sync(hop, limiter=_hop_limiter(state.session_factory))


# The hops in flight at once: as many as the pool has connections. A hop beyond them would only
# wait in its thread for a connection, and threads waiting on the pool cost far more CPU (their
# wake-ups, the GIL passed around) than requests waiting here, on the event loop.
_HOP_LIMITERS: RunVar[dict[sessionmaker[Session], CapacityLimiter]] = RunVar("whistle_hops")
_MAX_HOPS = 40  # the thread pool's own default


def _hop_limiter(sessions: sessionmaker[Session]) -> CapacityLimiter:
    """The limiter of the hops on this event loop that use ``sessions``' pool."""
    try:
        limiters = _HOP_LIMITERS.get()
    except LookupError:
        limiters = {}
        _HOP_LIMITERS.set(limiters)
    limiter = limiters.get(sessions)
    if limiter is None:
        pool = getattr(sessions.kw.get("bind"), "pool", None)
        tokens = _MAX_HOPS
        if isinstance(pool, QueuePool) and pool._max_overflow >= 0:
            tokens = min(tokens, pool.size() + pool._max_overflow)
        limiter = limiters[sessions] = CapacityLimiter(tokens)
    return limiter


def _authenticate(state: State, token: str) -> None:
    close_session(_caller(state, token).session)


class OneHopRoute(APIRoute):
    """A route using ``TokenDep`` and ``in_one_hop``: 401 before a body's 422, as everywhere."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def authenticated_first(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError:
                # Without the token noted, the body was not even JSON, and that is answered
                # before the token on every route; with it, the token decides first.
                token = request.scope.get(_TOKEN)
                if token is not None:
                    await run_in_threadpool(_authenticate, request.app.state, token)
                raise

        return authenticated_first
