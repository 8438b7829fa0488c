"""ASGI middleware of the API: the request body cap, and request metrics per route template.

Both are plain ASGI (no ``BaseHTTPMiddleware``), so they add no task or copy per request.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLarge
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
        replay: list[Message] = [{"type": "http.request", "body": b"".join(body)}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, size: int, limit: int
    ) -> None:
        from starlette.requests import Request

        error = BodyTooLarge(f"the body has {size} bytes or more; the cap is {limit}")
        response = problem_response(error, Request(scope, receive))
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


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
