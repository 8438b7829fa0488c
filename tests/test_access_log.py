"""One access line per request: the app served by uvicorn as ``whistle -v api`` serves it writes
exactly one line per request (uvicorn's access line), never a second one of its own or a copy
through the root logger."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sys
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from tests.fixtures_api import Api

# What the API answers, one of each kind: a list, a miss, a refusal, a page, Open311, health.
REQUESTS = [
    ("GET", "/api/v1/cases?limit=5", "cc_s1", 200),
    ("GET", "/api/v1/cases/987654", "cc_s1", 404),
    ("GET", "/api/v1/cases", None, 401),
    ("POST", "/api/v1/cases/987654/transitions", "cc_s1", 404),
    ("GET", "/console/login", None, 200),
    ("GET", "/open311/v2/services.json", None, 200),
    ("GET", "/healthz", None, 200),
]
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx2", "httpcore2")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put every logger this test configures back as it was."""
    kept = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level,
               logging.getLogger(name).propagate)
        for name in _LOGGERS
    }  # fmt: skip
    yield
    for name, (handlers, level, propagate) in kept.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


async def _serve_and_ask(api: Api, config: uvicorn.Config) -> list[int]:
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # The socket is bound before the server starts, so no request can race the start.
    await server.startup(sockets=[listener])
    statuses = []
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for method, path, who, _ in REQUESTS:
                body = {"trigger": "verify"} if method == "POST" else None
                answer = await client.request(method, path, headers=api.headers(who), json=body)
                statuses.append(answer.status_code)
    finally:
        server.should_exit = True
        await server.shutdown(sockets=[listener])
        listener.close()
    return statuses


def test_access_log__one_line_per_request_and_none_of_our_own(
    api: Api, capsys: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    # As ``whistle -v api`` runs: the root logger at INFO writing to stderr, then uvicorn's own
    # logging configuration (made in ``uvicorn.Config``) with its access log on.
    root = logging.getLogger()
    root.addHandler(logging.StreamHandler(sys.stderr))
    root.setLevel(logging.INFO)
    for client_side in ("httpx2", "httpcore2"):  # the test's client, not the server
        logging.getLogger(client_side).setLevel(logging.WARNING)
    config = uvicorn.Config(api.app, log_level="info", proxy_headers=True, lifespan="off")
    statuses = asyncio.run(_serve_and_ask(api, config))
    assert statuses == [status for *_, status in REQUESTS]
    out = capsys.readouterr()
    lines = (out.out + out.err).splitlines()
    for (method, path, _, status), got in zip(REQUESTS, statuses, strict=True):
        access = re.compile(rf'"{method} {re.escape(path)} HTTP/1\.1" {got}\b')
        assert sum(1 for line in lines if access.search(line)) == 1, (path, lines)
        # Nothing else of the request is written: no second line naming the path.
        named = re.compile(rf'[\s"]{re.escape(path)}[\s"]')
        assert sum(1 for line in lines if named.search(line)) == 1, (path, status, lines)
