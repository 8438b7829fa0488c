"""Errors as RFC 9457 ``application/problem+json``: one table from error class to status and type.

Every error the API answers goes through ``problem_for``; its ``type`` is a stable tag URI that
clients may switch on. Open311 paths answer the same errors in the GeoReport array form instead
(``api.open311.formats``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import (
    BodyTooLarge,
    MalformedRequest,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from engine.errors import (
    ChainBroken,
    Forbidden,
    GuardFailed,
    IllegalTransition,
    InvalidInput,
    NotFound,
    StaleVersion,
    StoreUnavailable,
    TooLarge,
    Unauthenticated,
    UnsupportedType,
    WhistleError,
    WorkflowError,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "tag:whistle,2026:problem/"


# Redis is away (killed, restarting): the request could not be served now, but may be soon.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
REDIS_RETRY_AFTER = 5
# The database connection was lost (a restart, a cut): the pool connects afresh on the next try.
DATABASE_RETRY_AFTER = 1


@dataclass(frozen=True)
class Kind:
    status: int
    slug: str
    title: str

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug


# The one mapping of error classes to answers; a class not listed answers as its nearest base.
KINDS: dict[type[Exception], Kind] = {
    MalformedRequest: Kind(400, "malformed-request", "The request cannot be read"),
    RequestValidationError: Kind(422, "validation", "The request is not valid"),
    InvalidInput: Kind(422, "invalid-input", "The input is not valid"),
    # A value the database cannot hold (a number out of range); never a 500.
    DataError: Kind(422, "invalid-input", "The input is not valid"),
    # SQLite's binding of an integer over 64 bits (PostgreSQL's is a DataError): never a 500.
    OverflowError: Kind(422, "invalid-input", "The input is not valid"),
    Unauthenticated: Kind(401, "unauthenticated", "A valid bearer token is required"),
    Forbidden: Kind(403, "forbidden", "Not allowed for this role or scope"),
    NotFound: Kind(404, "not-found", "Not found"),
    GuardFailed: Kind(409, "guard-failed", "A condition of this move does not hold"),
    IllegalTransition: Kind(409, "illegal-transition", "Not allowed from the current state"),
    StaleVersion: Kind(409, "stale-version", "The resource has changed since it was read"),
    BodyTooLarge: Kind(413, "body-too-large", "The request body is too large"),
    TooLarge: Kind(413, "body-too-large", "The request body is too large"),
    UnsupportedMediaType: Kind(415, "unsupported-media-type", "The body's media type is not taken"),
    UnsupportedType: Kind(415, "unsupported-media-type", "The body's media type is not taken"),
    RateLimited: Kind(429, "rate-limited", "Too many requests; slow down"),
    ServiceUnavailable: Kind(503, "unavailable", "A service this request needs is down"),
    StoreUnavailable: Kind(503, "unavailable", "A service this request needs is down"),
    redis.exceptions.ConnectionError: Kind(
        503, "unavailable", "A service this request needs is down"
    ),
    redis.exceptions.TimeoutError: Kind(503, "unavailable", "A service this request needs is down"),
    WorkflowError: Kind(500, "workflow-error", "A workflow definition is invalid"),
    ChainBroken: Kind(500, "audit-chain-broken", "An audit chain does not verify"),
}
INTERNAL = Kind(500, "internal", "Internal error")
_HTTP_KINDS = {
    404: Kind(404, "not-found", "Not found"),
    405: Kind(405, "method-not-allowed", "Method not allowed"),
    413: KINDS[BodyTooLarge],
    503: KINDS[ServiceUnavailable],
}


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def kind_of(exc: BaseException) -> Kind:
    """The answer for an error: its class, else its nearest listed base."""
    if isinstance(exc, StarletteHTTPException):
        return _HTTP_KINDS.get(
            exc.status_code, Kind(exc.status_code, f"http-{exc.status_code}", "HTTP error")
        )
    if _connection_lost(exc):
        return KINDS[StoreUnavailable]
    for cls in type(exc).__mro__:
        if cls in KINDS:
            return KINDS[cls]
    return INTERNAL


def _connection_lost(exc: BaseException) -> bool:
    """A database error that cost us the connection (outside a use case: a read)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]


def problem_for(exc: BaseException, instance: str | None = None) -> tuple[Kind, Problem]:
    """The kind and the problem document of an error."""
    if isinstance(exc, RequestValidationError):
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            kind = KINDS[MalformedRequest]
            return kind, Problem(
                type=kind.type, title=kind.title, status=kind.status,
                detail="the body is not valid JSON", instance=instance,
            )  # fmt: skip
        kind = KINDS[RequestValidationError]
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return kind, Problem(
            type=kind.type, title=kind.title, status=kind.status, detail=summary,
            instance=instance, errors=errors,
        )  # fmt: skip
    kind = kind_of(exc)
    detail: str | None
    if isinstance(exc, ServiceUnavailable | StoreUnavailable):
        detail = str(exc)
    elif _connection_lost(exc):
        detail = "the database connection was lost; try again"
    elif isinstance(exc, REDIS_DOWN):
        detail = f"the queue (Redis) is not answering; try again in {REDIS_RETRY_AFTER} s"
    elif kind.status >= 500:
        detail = None
    elif isinstance(exc, DataError | OverflowError):
        detail = "a value is out of the range the database stores"
    elif isinstance(exc, StarletteHTTPException):
        detail = str(exc.detail)
    else:
        detail = str(exc)
    return kind, Problem(
        type=kind.type, title=kind.title, status=kind.status, detail=detail, instance=instance
    )


def headers_for(exc: BaseException) -> dict[str, str]:
    """Headers an error answer carries (authentication scheme, when to retry)."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="whistle"'}
    if isinstance(exc, RateLimited | ServiceUnavailable):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, REDIS_DOWN):
        return {"Retry-After": str(REDIS_RETRY_AFTER)}
    if isinstance(exc, StoreUnavailable) or _connection_lost(exc):
        return {"Retry-After": str(DATABASE_RETRY_AFTER)}
    if isinstance(exc, StarletteHTTPException) and exc.headers:
        return dict(exc.headers)  # e.g. the Allow of a 405
    return {}


def problem_response(exc: BaseException, request: Request | None = None) -> Response:
    """The HTTP answer for an error (the Open311 form under ``/open311/``)."""
    path = request.url.path if request is not None else None
    kind, problem = problem_for(exc, instance=path)
    console = path is not None and path.startswith("/console") and request is not None
    if console and getattr(exc, "login_redirect", False):
        from api.console.errors import error_page

        assert request is not None
        return error_page(request, exc, 303, None)  # a visitor not logged in: no error at all
    if kind.status == 503:
        log.warning("%s on %s: %s", type(exc).__name__, path, exc)
    elif kind.status >= 500:
        log.error("%s on %s", type(exc).__name__, path, exc_info=exc)
    if path is not None and path.startswith("/console") and request is not None:
        from api.console.errors import error_page

        return error_page(request, exc, kind.status, problem.detail)
    if path is not None and path.startswith("/open311/"):
        from api.open311.formats import open311_error

        return open311_error(path, kind.status, problem.detail or kind.title)
    headers = headers_for(exc)
    if kind.status == 405 and request is not None:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=kind.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def allowed_methods(request: Request) -> str:
    """Every method the document lists at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations if m.upper() in _HTTP_METHODS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


_HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


async def _handle(request: Request, exc: Exception) -> Response:
    return problem_response(exc, request)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem document."""
    for cls in (
        WhistleError, RequestValidationError, StarletteHTTPException, DataError, DBAPIError,
        OverflowError,
        *REDIS_DOWN,
        Exception,
    ):  # fmt: skip
        app.add_exception_handler(cls, _handle)


# The error answers each route documents in OpenAPI.
def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, all problem documents."""
    titles = {k.status: k.title for k in [*KINDS.values(), *_HTTP_KINDS.values()]}
    return {
        status: {"model": Problem, "description": titles.get(status, "Error")}
        for status in statuses
    }


_OPEN311_ERRORS = {
    "application/json": {
        "schema": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "description"],
                "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
            },
        }
    },
    "text/xml": {"schema": {"type": "string"}},
}


def document_errors(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the generated document say what errors really look like.

    FastAPI documents its own validation answer (422, ``application/json``); ours are problem
    documents, and under ``/open311/`` the spec's error arrays (where a 422 is a 400).
    """
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in openapi.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path.startswith("/open311/"):
                responses.pop("422", None)
                for status in ("400", "403", "404", "413", "429"):
                    entry = responses.setdefault(status, {"description": "GeoReport error array"})
                    entry["content"] = _OPEN311_ERRORS
                continue
            responses.setdefault("422", {"description": KINDS[RequestValidationError].title})
            if "requestBody" in operation:
                # A body that cannot be read at all (broken JSON or multipart), one over the cap,
                # or one in another media type than the operation takes (api.deps.body_media_type).
                responses.setdefault("400", {"description": KINDS[MalformedRequest].title})
                responses.setdefault("413", {"description": KINDS[BodyTooLarge].title})
                responses.setdefault("415", {"description": KINDS[UnsupportedMediaType].title})
            # Redis away (restarting): the answer says when to try again.
            responses.setdefault("503", {"description": KINDS[ServiceUnavailable].title})
            for status, entry in responses.items():
                if status.isdigit() and int(status) >= 400:
                    entry["content"] = problem
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi
