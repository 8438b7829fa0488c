"""What routes receive: a session, the runtime, the clock, the calling actor, the settings.

``Annotated`` aliases keep a route's signature to what it means (``actor: ActorDep``); the
objects come from ``app.state``, set once by ``api.app.create_app``. Dependencies that only read
``app.state`` are ``async`` (no hop to the thread pool); those that touch the database are not
(a route that does all its work in one hop uses ``api.onehop`` instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

import redis
from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.errors import UnsupportedMediaType
from api.ratelimit import IntakeLimiter
from api.settings import ApiSettings
from engine.access import Actor
from engine.auth import actor_for_token
from engine.case.queries import MAX_ID
from engine.clock import Clock
from engine.errors import InvalidInput, Unauthenticated
from engine.runtime import Runtime


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed when the answer is sent."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        close_session(session)


def close_session(session: Session) -> None:
    """Close a request's session; a connection that died after the answer was made is let go."""
    try:
        session.close()
    except DBAPIError as exc:
        # The connection died after the answer was made (a restart, a cut): its rollback
        # cannot run, and need not; writes commit inside their use case. The pool drops it.
        if not exc.connection_invalidated:
            raise


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock  # type: ignore[no-any-return]


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_redis(request: Request) -> redis.Redis | None:
    return request.app.state.redis  # type: ignore[no-any-return]


async def get_limiter(request: Request) -> IntakeLimiter:
    return request.app.state.limiter  # type: ignore[no-any-return]


async def body_media_type(request: Request) -> None:
    """415 when a body comes in another media type than the operation takes (the one its
    OpenAPI entry names), before the body is validated as if it were one."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None:
        return  # the operation takes no body
    takes = str(getattr(field.field_info, "media_type", "application/json"))
    given = request.headers.get("content-type")
    if given is None:
        if not await request.body():
            return  # no body at all: the validation names what is missing
        raise UnsupportedMediaType(f"the body has no Content-Type; this operation takes {takes}")
    media = given.partition(";")[0].strip().lower()
    json_alike = takes == "application/json" and re.fullmatch(r"application/[\w.+-]*\+json", media)
    if media != takes and not json_alike:
        raise UnsupportedMediaType(
            f"the body is {media or 'untyped'}; this operation takes {takes}"
        )


# Ids are 32-bit in the database; a larger one is refused here, not by the driver.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]

SessionDep = Annotated[Session, Depends(get_session)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
RedisDep = Annotated[redis.Redis | None, Depends(get_redis)]
LimiterDep = Annotated[IntakeLimiter, Depends(get_limiter)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `whistle accounts create` (Authorization: Bearer <token>).",
)


def get_actor(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The actor of the bearer token; 401 when it is missing, unknown or revoked."""
    if credentials is None:
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
    return actor_for_token(session, credentials.credentials, now=clock.now())


ActorDep = Annotated[Actor, Depends(get_actor)]


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header asks for (``"3"``, ``W/"3"``, ``3``; ``*``: any)."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value)
    if match is None:
        raise InvalidInput(f'If-Match: expected an entity tag such as "3", got {value!r}')
    return int(match[1])


# The header as sent: a route reads it in its hop, after the token (``parse_if_match`` there).
IfMatchHeader = Annotated[
    str | None, Header(description='The version to act on, as an entity tag: "3"')
]


def etag(version: int) -> str:
    """The entity tag of a version."""
    return f'"{version}"'


def check_intake(limiter: IntakeLimiter, actor: Actor, clock: Clock) -> None:
    """Count one intake against the actor's account at the app's time (``RateLimited`` when
    over); a test's manual clock decides which window it falls in, not the wall clock."""
    limiter.hit(f"account:{actor.account_id}", now=clock.now().timestamp())
