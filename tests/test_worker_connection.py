"""A waiting RQ worker keeps its connection: its blocking dequeue never outlasts the socket timeout.

The stall this guards against: the worker shared the sweeper's client, whose connections made
before the worker was built kept redis-py's 5 s read timeout while RQ blocked 405 s in BLPOP; each
read timed out, RQ logged "could not connect to Redis instance: Timeout reading from …/redis.sock"
and waited up to a minute before trying again, and queued jobs waited with it. A real embedded
Redis and real workers.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue
from rq.worker import WorkerStatus

from workers.queues import COMMAND_TIMEOUT, connect, work_queues
from workers.redis_server import EmbeddedRedis
from workers.rq_workers import ForkingWorker, InProcessWorker
from workers.runner import EscalationWorker
from workers.stuck import worker_gone

# A worker_ttl of 17 s gives a dequeue timeout of 2 s (RQ: worker_ttl - 15).
SHORT_TTL = 17
BOUND = 60.0  # seconds; only a worker stuck in the old retry loop comes near it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


class ThreadedWorker(EscalationWorker):
    """The runner's worker, run in a thread so that a stuck one cannot hang the test run: it
    leaves signals alone (only the main thread may set them) and says when it starts waiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = threading.Event()

    def _install_signal_handlers(self) -> None:
        pass

    def set_state(self, state: str, pipeline: Any = None) -> None:
        super().set_state(state, pipeline)  # type: ignore[no-untyped-call]
        if state == WorkerStatus.IDLE:
            self.waiting.set()


def run_in_thread(worker: ThreadedWorker, **work: Any) -> tuple[threading.Thread, list[bool]]:
    """Start ``worker.work(**work)`` in a thread; the list receives what it returns."""
    worked: list[bool] = []
    thread = threading.Thread(target=lambda: worked.append(worker.work(**work)), daemon=True)
    thread.start()
    return thread, worked


def used_client(url: str, *, socket_timeout: float, connections: int = 2) -> redis.Redis:
    """A client as the sweeper leaves it: idle connections already made, with a short timeout."""
    client = redis.Redis.from_url(url, socket_timeout=socket_timeout)
    pool = client.connection_pool
    made = [pool.get_connection() for _ in range(connections)]
    for connection in made:
        connection.connect()
        pool.release(connection)
    return client


@pytest.mark.parametrize("worker_class", [ForkingWorker, InProcessWorker, EscalationWorker])
def test_worker__every_connection_it_reads_from_waits_longer_than_its_blocking_dequeue(
    server: EmbeddedRedis, worker_class: type[ForkingWorker | InProcessWorker]
) -> None:
    shared = used_client(server.url, socket_timeout=1)

    worker = worker_class(work_queues(shared), connection=shared)

    assert worker.connection.connection_pool is not shared.connection_pool
    own = worker.connection.connection_pool.connection_kwargs["socket_timeout"]
    assert own > worker.dequeue_timeout
    # The caller's client is left as it was: its idle connections, and new ones, keep 1 s.
    assert shared.connection_pool.connection_kwargs["socket_timeout"] == 1
    shared.close()


def test_worker__keeps_a_longer_timeout_it_was_given(server: EmbeddedRedis) -> None:
    patient = redis.Redis.from_url(server.url, socket_timeout=3600)

    worker = InProcessWorker(work_queues(patient), connection=patient)

    assert worker.connection.connection_pool.connection_kwargs["socket_timeout"] == 3600


def test_connect__the_shared_client_has_a_short_timeout_of_its_own(server: EmbeddedRedis) -> None:
    client = connect(server.url)

    assert client.connection_pool.connection_kwargs["socket_timeout"] == COMMAND_TIMEOUT
    client.close()


def test_waiting_worker__on_a_client_with_a_shorter_timeout_waits_out_its_dequeue_without_error(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    # The dequeue blocks 2 s; the client's connections, made before the worker, time out after 1 s.
    shared = used_client(server.url, socket_timeout=1)
    worker = ThreadedWorker(work_queues(shared), connection=shared, worker_ttl=SHORT_TTL)
    assert worker.dequeue_timeout > 1
    caplog.set_level(logging.INFO, logger="rq.worker")

    # Not burst: a waiting worker, told to quit after one idle dequeue.
    thread, worked = run_in_thread(
        worker, burst=False, max_idle_time=worker.dequeue_timeout, logging_level="INFO"
    )
    thread.join(BOUND)

    assert not thread.is_alive(), "the worker is stuck retrying its connection"
    assert worked == [False]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert any("idle for" in r.getMessage() for r in caplog.records)
    shared.close()


def test_waiting_worker__takes_a_job_queued_while_it_waits(server: EmbeddedRedis) -> None:
    shared = used_client(server.url, socket_timeout=1)
    queue = Queue("waiting", connection=shared)
    # In the main thread, as a job's time limit needs: the job is queued from another one.
    worker = ThreadedWorker([queue], connection=shared, worker_ttl=SHORT_TTL)
    jobs = []

    def enqueue_once_waiting() -> None:
        if worker.waiting.wait(BOUND):
            jobs.append(queue.enqueue("os.getpid", result_ttl=60))

    producer = threading.Thread(target=enqueue_once_waiting, daemon=True)
    producer.start()
    worked = worker.work(burst=False, max_jobs=1, logging_level="WARNING")
    producer.join(BOUND)

    assert worked
    assert [job.get_status(refresh=True) for job in jobs] == ["finished"]
    shared.close()


def test_looking_up_a_worker__leaves_the_callers_client_as_it_was(server: EmbeddedRedis) -> None:
    shared = connect(server.url)
    running = InProcessWorker(work_queues(shared), connection=shared)
    running.register_birth()

    assert not worker_gone(shared, running.name)
    assert shared.connection_pool.connection_kwargs["socket_timeout"] == COMMAND_TIMEOUT
    running.register_death()
    shared.close()
