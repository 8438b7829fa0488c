"""Started jobs whose worker died: found within a sweep, then retried or failed visibly.

RQ counts a started job as abandoned only when its registry entry expires, which for a job run in
the worker's own process is its whole timeout (an hour for a report): an export whose worker was
killed stayed "started" at 40 % for that long, and nothing said so. Here each sweep looks at the
started jobs of every queue and asks whether the worker running each one is still there: its
record in Redis is gone, or it ran on this host and its process is gone. Such a job's entry is
expired at once and handed to RQ's own clean-up, which retries it if it has retries left and
otherwise fails it (``AbandonedJobError``) so its client sees "failed". ``whistle status`` lists
the started jobs and whose worker is gone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from workers.rq_workers import InspectedWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartedJob:
    """A job some worker is running, as ``whistle status`` shows it."""

    queue: str
    job_id: str
    worker: str | None
    orphaned: bool

    def as_json(self) -> dict[str, object]:
        return {"queue": self.queue, "job": self.job_id, "worker": self.worker,
                "orphaned": self.orphaned}  # fmt: skip


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def worker_gone(connection: redis.Redis, name: str | None) -> bool:
    """Whether the worker of this name no longer runs: no record, or a dead process here."""
    if not name:
        return False  # RQ sets the name as it starts the job; a moment later it is there
    worker = InspectedWorker.find_by_key(
        Worker.redis_worker_namespace_prefix + name, connection=connection
    )
    if worker is None:
        return True
    pid = worker.pid
    return worker.hostname == socket.gethostname() and pid is not None and _process_gone(pid)


def started_jobs(connection: redis.Redis, queue_names: Iterable[str]) -> list[StartedJob]:
    """Every started job of these queues, and whether its worker is gone."""
    found = []
    for name in queue_names:
        registry = StartedJobRegistry(name, connection=connection)
        for job_id in registry.get_job_ids(cleanup=False):
            job = (
                Job.fetch(job_id, connection=connection) if Job.exists(job_id, connection) else None
            )
            if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                continue
            gone = worker_gone(connection, job.worker_name)
            found.append(StartedJob(name, job_id, job.worker_name, gone))
    return found


def reap_orphans(connection: redis.Redis, queue_names: Iterable[str]) -> list[str]:
    """Retry or fail every started job whose worker is gone; their ids."""
    reaped = []
    names = list(queue_names)
    for stuck in started_jobs(connection, names):
        if not stuck.orphaned:
            continue
        registry = StartedJobRegistry(stuck.queue, connection=connection)
        # Expire its entries now, then let RQ's clean-up retry or fail it as it would have later.
        for entry, _score in connection.zscan_iter(registry.key, match=f"{stuck.job_id}*"):
            connection.zadd(registry.key, {entry: 0}, xx=True)
        registry.cleanup(timestamp=1)
        log.warning(
            "job %s on %s: its worker %s is gone; retried or failed now",
            stuck.job_id, stuck.queue, stuck.worker,
        )  # fmt: skip
        reaped.append(stuck.job_id)
    return reaped


def queues_of(connection: redis.Redis, names: Iterable[str]) -> list[Queue]:
    """The queues of these names."""
    return [Queue(name, connection=connection) for name in names]
