"""``whistle api``: serve the HTTP API and Open311 with uvicorn (``N`` worker processes).

Without ``REDIS_URL`` an embedded Redis is started here, in the parent, and handed to every
worker through ``REDIS_URL``, so that all workers share one intake rate limit.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import click
import uvicorn

from api.cli.common import settings
from workers.redis_server import EmbeddedRedis, EmbeddedRedisError

FACTORY = "api.app:create_app"


def serve(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Run the API until interrupted (the embedded Redis stops with it)."""
    with ExitStack() as stack:
        if not os.environ.get("REDIS_URL"):
            s = settings()
            s.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                server = stack.enter_context(EmbeddedRedis(data_dir=s.data_dir))
            except EmbeddedRedisError as exc:
                raise click.ClickException(str(exc)) from exc
            os.environ["REDIS_URL"] = server.url
        uvicorn.run(
            FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            proxy_headers=True,
        )


@click.command("api")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="API processes."
)
@click.option("--log-level", default="info", show_default=True)
def api(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the HTTP API (/api/v1, /docs) and Open311 GeoReport v2 (/open311/v2)."""
    serve(host=host, port=port, workers=workers, log_level=log_level)


COMMANDS: list[click.Command] = [api]
