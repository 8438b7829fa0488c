"""ASGI middleware of the API: the request body cap, form bodies decoded as sent, and request
metrics per route template.

Both are plain ASGI (no ``BaseHTTPMiddleware``), so they add no task or copy per request.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge, MalformedRequest, UnsupportedMediaType
from api.forms import FORM, decode_form, form_charset, plain_form
from api.metrics import RequestMetrics
from api.problems import problem_response

_WRITES = {"POST", "PUT", "PATCH"}


class BodyLimitMiddleware:
    """Refuse a request body over the cap with 413 before any handler reads it.

    A declared ``Content-Length`` over the cap is refused at once; a chunked body is read up to
    the cap (and no further) and then replayed to the application.
    """

    def __init__(self, app: ASGIApp, *, default: int, evidence: int) -> None:
        self.app = app
        self.default = default
        self.evidence = evidence

    def _limit(self, path: str) -> int:
        # Uploads carry a multipart envelope besides the file itself.
        return (
            self.evidence + 64 * 1024
            if path.endswith(("/evidence", "/do/complete"))
            else self.default
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await self._refuse(scope, receive, send, declared, limit)
                return
            await self.app(scope, receive, send)
            return
        body, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, size, limit)
                return
            body.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = _replaying({"type": "http.request", "body": b"".join(body)}, receive)
        await self.app(scope, replayed, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, size: int, limit: int
    ) -> None:
        error = BodyTooLarge(f"the body has {size} bytes or more; the cap is {limit}")
        response = problem_response(error, Request(scope, receive))
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` that gives ``first`` (a body already read, or the client's going away)
    once, then whatever the client sends next."""
    queue = [first]

    async def replayed() -> Message:
        return queue.pop() if queue else await receive()

    return replayed


class FormEncodingMiddleware:
    """Check that a urlencoded form body decodes (400 or 415 if not, ``api.forms``) and pass on
    one that Starlette would misread (raw non-ASCII bytes, another charset) as ASCII escapes.

    Added before ``BodyLimitMiddleware``, so it runs inside the cap: the body it reads whole is
    already within it. Other bodies pass through untouched, unread.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = (
            _header(scope, b"content-type")
            if scope["type"] == "http" and scope["method"] in _WRITES
            else None
        )
        if content_type is None or FORM not in content_type.lower():
            await self.app(scope, receive, send)
            return
        try:
            charset = form_charset(content_type)
            if charset is None:
                await self.app(scope, receive, send)
                return
            body, ended = await _read_whole(receive)
            pairs = decode_form(body, charset)
        except (MalformedRequest, UnsupportedMediaType) as error:
            await problem_response(error, Request(scope, receive))(scope, receive, send)
            return
        if charset != "utf-8" or not body.isascii():
            body = plain_form(pairs)
            kept = [(n, v) for n, v in scope["headers"] if n not in _REWRITTEN]
            length = str(len(body)).encode()
            scope = {
                **scope,
                "headers": [*kept, (b"content-type", FORM), (b"content-length", length)],
            }
        first: Message = (
            {"type": "http.disconnect"} if ended else {"type": "http.request", "body": body}
        )
        await self.app(scope, _replaying(first, receive), send)


_REWRITTEN = (b"content-type", b"content-length")


async def _read_whole(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and whether the client went away while sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


class MetricsMiddleware:
    """Count and time every request under its route template (``/api/v1/cases/{case_id}``)."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(
                method=scope["method"],
                route=route,
                status=status,
                seconds=time.perf_counter() - started,
            )
