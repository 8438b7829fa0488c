"""Item 4 of the hardening issue: a job whose worker died is found within a sweep, listed, and
retried or failed visibly, never left "started" for the length of its timeout.

A real embedded Redis and a real worker process, killed with SIGKILL while its job runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus

from workers.redis_server import EmbeddedRedis
from workers.reports import REPORTS
from workers.stuck import reap_orphans, started_jobs

pytestmark = pytest.mark.faults
REPO = Path(__file__).resolve().parents[1]
DEADLINE = 20.0
WORKER = """
import sys, redis
from rq import Queue
from workers.rq_workers import InProcessWorker
connection = redis.Redis.from_url(sys.argv[1])
InProcessWorker([Queue(sys.argv[2], connection=connection)], connection=connection).work(
    burst=True, logging_level="WARNING")
"""


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[redis.Redis]:
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()


def kill_worker_mid_job(connection: redis.Redis, job: Job) -> None:
    url = "unix://" + connection.connection_pool.connection_kwargs["path"]
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, REPORTS], cwd=REPO, stdin=subprocess.DEVNULL
    )
    try:
        give_up = time.monotonic() + DEADLINE
        while job.get_status(refresh=True) != JobStatus.STARTED:
            assert time.monotonic() < give_up, "the worker never started the job"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(DEADLINE)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_worker_killed_mid_job__the_job_is_listed_then_failed_at_the_next_sweep(connection):
    queue = Queue(REPORTS, connection=connection)
    job = queue.enqueue("time.sleep", 600, job_timeout=3600)

    kill_worker_mid_job(connection, job)

    (listed,) = started_jobs(connection, [REPORTS])
    assert (listed.job_id, listed.orphaned) == (job.id, True)
    assert job.get_status(refresh=True) == JobStatus.STARTED  # RQ alone: for the next hour

    assert reap_orphans(connection, [REPORTS]) == [job.id]

    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert "AbandonedJobError" in (job.latest_result().exc_string or "")
    assert started_jobs(connection, [REPORTS]) == []
    assert reap_orphans(connection, [REPORTS]) == []  # once


def test_worker_killed_mid_job__a_job_with_retries_left_is_queued_again(connection):
    queue = Queue(REPORTS, connection=connection)
    job = queue.enqueue("time.sleep", 600, job_timeout=3600, retry=Retry(max=1))

    kill_worker_mid_job(connection, job)
    reap_orphans(connection, [REPORTS])

    assert job.get_status(refresh=True) == JobStatus.QUEUED
    assert queue.job_ids == [job.id]


def test_a_running_job_of_a_live_worker_is_left_alone(connection):
    queue = Queue(REPORTS, connection=connection)
    job = queue.enqueue("time.sleep", 600, job_timeout=3600)
    url = "unix://" + connection.connection_pool.connection_kwargs["path"]
    worker = subprocess.Popen([sys.executable, "-c", WORKER, url, REPORTS], cwd=REPO)
    try:
        give_up = time.monotonic() + DEADLINE
        while job.get_status(refresh=True) != JobStatus.STARTED:
            assert time.monotonic() < give_up
            time.sleep(0.05)

        assert reap_orphans(connection, [REPORTS]) == []
        assert [j.orphaned for j in started_jobs(connection, [REPORTS])] == [False]
    finally:
        worker.kill()
        worker.wait()
