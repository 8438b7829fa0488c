"""RQ workers stop promptly: a burst worker's end never waits a minute on its command channel.

RQ reads its pubsub command channel in a thread with a 60 s timeout, and redis-py 8 waits for that
read when the thread is stopped; our worker classes read in short slices instead. A real embedded
Redis, real workers; each measurement has a generous bound far below the minute it was.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from workers.redis_server import EmbeddedRedis
from workers.rq_workers import PUBSUB_POLL_SECONDS, ForkingWorker, InProcessWorker

BOUND = 5.0  # seconds; the old stall was up to 60


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("worker_class", [ForkingWorker, InProcessWorker])
def test_unsubscribe__while_the_command_thread_is_reading_returns_within_a_slice(
    connection: redis.Redis, worker_class: type[ForkingWorker | InProcessWorker]
) -> None:
    worker = worker_class([Queue("idle", connection=connection)], connection=connection)
    worker.subscribe()
    assert worker.pubsub_thread is not None
    assert worker.pubsub_thread.sleep_time == PUBSUB_POLL_SECONDS <= 1
    time.sleep(3 * PUBSUB_POLL_SECONDS)  # the thread is now blocked in a read

    started = time.monotonic()
    worker.unsubscribe()

    assert time.monotonic() - started < BOUND
    assert not worker.pubsub_thread.is_alive()


@pytest.mark.parametrize("worker_class", [ForkingWorker, InProcessWorker])
def test_burst__of_one_job_each_ends_within_seconds_every_time(
    connection: redis.Redis, worker_class: type[ForkingWorker | InProcessWorker]
) -> None:
    # With RQ's own Worker about every other one of these bursts took 60.0 s.
    queue = Queue("bursts", connection=connection)
    took = []
    for _ in range(6):
        queue.enqueue("os.getpid", result_ttl=0)
        started = time.monotonic()
        worked = worker_class([queue], connection=connection).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        took.append(time.monotonic() - started)
        assert worked

    assert max(took) < BOUND, took
    assert queue.count == 0
