"""The RQ queues and the Redis they live in: ``REDIS_URL``, or the embedded server.

Without ``REDIS_URL`` every process of one data directory shares one embedded Redis: the first
to need it starts it (and owns it); the others find it answering on its socket and use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from rq import Queue

from engine.config import Settings
from workers.redis_server import EmbeddedRedis, EmbeddedRedisError

ESCALATIONS = "whistle-escalations"
# Webhook deliveries (workers/webhooks.py) and report builds (workers/reports.py) have their
# own queues; every worker listens to all three, escalations first.
WEBHOOKS = "whistle-webhooks"
REPORTS = "whistle-reports"
WORK_QUEUES = (ESCALATIONS, WEBHOOKS, REPORTS)

_FIND_TIMEOUT = 10.0
# How long one command may wait for its answer on a shared client (sweeps, queue sizes): none of
# them blocks. A worker's blocking dequeue reads on a client of its own (workers/rq_workers.py).
COMMAND_TIMEOUT = 10.0


def embedded_dir(settings: Settings) -> Path:
    """Where the embedded Redis keeps its socket and append-only file."""
    return settings.data_dir / "redis"


def connect(url: str) -> redis.Redis:
    """A client for ``url`` that notices a dead connection and reconnects."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=COMMAND_TIMEOUT, health_check_interval=15
    )


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url`` right now."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False
    finally:
        client.close()


@contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """The Redis to use: ``REDIS_URL``; else the data directory's embedded server, started here
    (and stopped on leaving) unless another process of this data directory already runs it."""
    if settings.redis_url:
        yield settings.redis_url
        return
    server = EmbeddedRedis(data_dir=embedded_dir(settings))
    if answers(server.url):
        yield server.url
        return
    try:
        server.start()
    except EmbeddedRedisError:
        # Another process won the race to start it: wait for it to answer.
        deadline = time.monotonic() + _FIND_TIMEOUT
        while not answers(server.url):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        yield server.url
        return
    server.watch()  # killed or crashed, it is started again on the same socket
    try:
        yield server.url
    finally:
        server.stop()


def escalation_queue(connection: redis.Redis) -> Queue:
    """The queue of escalation jobs."""
    return Queue(ESCALATIONS, connection=connection)


def work_queues(connection: redis.Redis) -> list[Queue]:
    """Every queue a worker takes jobs from, escalations first."""
    return [Queue(name, connection=connection) for name in WORK_QUEUES]
