"""The sweeper: moves due ladder steps from the database onto the escalation queue.

Each sweep claims due steps in batches (engine/deadline/sweep.py) and enqueues one job per step
under the deterministic id ``esc-<deadline>-<step>``. Nothing here is the only copy of anything:

* a job already waiting under that id is left alone;
* a job that finished, failed, or started longer ago than ``job_lease`` (its worker died) is
  replaced — the job itself applies a step at most once, so a second run is harmless;
* the claim token is a random value kept in Redis: when Redis comes back empty the token is new,
  so every claim made under the old one lapses at once and the next sweep enqueues again;
* a claim also lapses after ``claim_lease``, which catches a job lost any other way.

Once per ``train_every`` a sweep also queues the category model's training when enough cases
came in (workers/insight.py). Each sweep also re-enqueues webhook deliveries that are due but
whose jobs Redis lost, and moves RQ's scheduled jobs (webhook retries waiting out their
backoff) onto their queues — the work of RQ's scheduler, done here because RQ would fork a
scheduler process per worker that a SIGKILL of the worker leaves orphaned.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.utils import utcparse
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock, wall_speed
from engine.deadline.sweep import DueStep, claim_due_steps, next_fire_after
from engine.notification.service import due_deliveries
from workers.queues import WEBHOOKS, WORK_QUEUES, escalation_queue
from workers.webhooks import enqueue_deliveries

log = logging.getLogger(__name__)

TOKEN_KEY = "whistle:sweeper:token"
ESCALATE = "workers.jobs.escalate"
ESCALATE_BATCH = "workers.jobs.escalate_batch"
# Steps one escalation job applies: the batch's cases are read, written and committed together,
# so the job's fixed costs (RQ's handling, the statements, the commit) are shared by the batch.
# 200 rather than 50 roughly halves the server's work per step on PostgreSQL (bench.escalation,
# 10,000 due: 100 → 200 took the drain from 4.3 s to 4.1 s); a batch still commits in tens of
# milliseconds, and 10,000 due steps still make 50 jobs for the workers to share.
STEPS_PER_JOB = 200
# Longer than the job's own database retries (workers/jobs.py), so RQ never cuts them short.
JOB_TIMEOUT = 300
# The states RQ stores in a job's hash, as text (an enum member does not hash like its text).
_WAITING = {
    s.value for s in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED)
}


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did: steps claimed, their jobs enqueued (the rest were waiting already),
    and webhook deliveries enqueued again."""

    claimed: int
    enqueued: int
    deliveries: int = 0
    training: bool = False  # a training of the category model was queued


class Sweeper:
    """Claims due steps and enqueues their jobs; safe to run in many processes at once."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        connection: redis.Redis,
        clock: Clock,
        claim_lease: timedelta,
        job_lease: timedelta,
        batch: int = 500,
        max_batches: int = 40,
        train_every: timedelta | None = None,
    ) -> None:
        self.sessions = sessions
        self.connection = connection
        self.queue: Queue = escalation_queue(connection)
        self.clock = clock
        self.claim_lease = claim_lease
        self.job_lease = job_lease
        self.batch = batch
        self.max_batches = max_batches
        self.train_every = train_every
        self.scheduler = RQScheduler(
            list(WORK_QUEUES), connection=connection, logging_level="WARNING"
        )

    def token(self) -> str:
        """This Redis's claim token, made by the first sweeper to ask after Redis started empty."""
        self.connection.set(TOKEN_KEY, secrets.token_hex(16), nx=True)
        value = self.connection.get(TOKEN_KEY)
        if value is None:  # emptied between the two calls: the next sweep makes a new one
            raise redis.exceptions.ConnectionError("the sweeper token vanished; Redis was reset")
        return value.decode() if isinstance(value, bytes) else str(value)

    def sweep(self) -> SweepReport:
        """Enqueue every due step (up to ``batch × max_batches``), lost deliveries, retries."""
        claimed, enqueued = self.sweep_steps()
        deliveries = self.sweep_deliveries()
        self.promote_scheduled()
        training = self.sweep_training()
        return SweepReport(
            claimed=claimed, enqueued=enqueued, deliveries=deliveries, training=training
        )

    def sweep_training(self) -> bool:
        """Queue the category model's training when its period began and cases came in."""
        if not self.train_every:
            return False
        # Imported here: smart intake brings scikit-learn, SciPy and jieba, seconds of start-up
        # that a worker restarting after a fault should not pay before its first sweep.
        from workers.insight import schedule_training

        job = schedule_training(
            self.connection, self.sessions, now=self.clock.now(), every=self.train_every
        )
        return job is not None

    def sweep_steps(self) -> tuple[int, int]:
        """Claim due steps and enqueue their jobs: (claimed, enqueued)."""
        now = self.clock.now()
        token = self.token()
        claimed = enqueued = 0
        for _ in range(self.max_batches):
            with self.sessions() as session:
                steps = claim_due_steps(
                    session=session, token=token, lease=self.claim_lease, limit=self.batch, now=now
                )
            claimed += len(steps)
            enqueued += self.enqueue(steps)
            if len(steps) < self.batch:
                break
        return claimed, enqueued

    def seconds_to_next_step(self) -> float | None:
        """Wall-clock seconds until the next planned ladder step falls due (None: none is
        planned, or this clock does not follow the wall clock)."""
        speed = wall_speed(self.clock)
        if speed is None:
            return None
        now = self.clock.now()
        with self.sessions() as session:
            at = next_fire_after(session, now=now)
        return None if at is None else (at - now).total_seconds() / speed

    def sweep_deliveries(self) -> int:
        """Enqueue pending webhook deliveries that are due; those already queued are skipped."""
        # Deliveries keep wall-clock times (workers/webhooks.py), whatever the business clock.
        with self.sessions() as session:
            due = due_deliveries(session, now=datetime.now(UTC), limit=self.batch)
        return len(enqueue_deliveries(Queue(WEBHOOKS, connection=self.connection), due))

    def promote_scheduled(self) -> None:
        """Move scheduled jobs whose time has come onto their queues (one sweeper at a time)."""
        if self.scheduler.acquire_locks():  # type: ignore[no-untyped-call]
            self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]

    def release(self) -> None:
        """Give up the scheduling lock, so another sweeper takes it over at once."""
        self.scheduler.release_locks()  # type: ignore[no-untyped-call]

    def enqueue(self, steps: Sequence[DueStep]) -> int:
        """Put the steps' jobs on the queue unless waiting or running; how many steps were put.

        Steps go in batches of ``STEPS_PER_JOB`` per job (one step keeps the job id of its own,
        ``esc-<deadline>-<step>``). One pipelined read of the jobs' states and one pipelined
        write: a large backlog whose claims lapse is looked over in a few round trips.
        """
        if not steps:
            return 0
        batches = [list(steps[k : k + STEPS_PER_JOB]) for k in range(0, len(steps), STEPS_PER_JOB)]
        ids = [batch_job_id(batch) for batch in batches]
        with self.connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(Job.key_for(job_id), "status", "started_at")
            states = pipe.execute()
        wanted: list[tuple[str, list[DueStep]]] = []
        for job_id, batch, (status, started_at) in zip(ids, batches, states, strict=True):
            if status is None:
                wanted.append((job_id, batch))
            elif not self._will_run(status.decode(), started_at):
                log.info("replacing job %s (%s)", job_id, status.decode())
                with contextlib.suppress(NoSuchJobError):
                    Job.fetch(job_id, connection=self.connection).delete()
                wanted.append((job_id, batch))
        if wanted:
            # The claim makes this sweeper the only one enqueueing these steps now; should two
            # ever race, a step is queued twice and the second run applies nothing.
            self.queue.enqueue_many([_job_data(job_id, batch) for job_id, batch in wanted])
        return sum(len(batch) for _, batch in wanted)

    def _will_run(self, status: str, started_at: bytes | None) -> bool:
        if status in _WAITING:
            return True
        if status == JobStatus.STARTED.value and started_at:
            started = utcparse(started_at.decode())
            return datetime.now(UTC) - started < self.job_lease  # else its worker died
        return False


def batch_job_id(batch: Sequence[DueStep]) -> str:
    """A job's id, the same for the same steps: a waiting job is recognised on the next sweep."""
    if len(batch) == 1:
        return batch[0].job_id
    digest = hashlib.sha1(
        ",".join(f"{s.deadline_id}-{s.step_index}" for s in batch).encode(), usedforsecurity=False
    ).hexdigest()[:12]
    return f"{batch[0].job_id}_{len(batch)}_{digest}"


def _job_data(job_id: str, batch: Sequence[DueStep]) -> Any:
    if len(batch) == 1:
        (step,) = batch
        return Queue.prepare_data(
            ESCALATE,
            args=(step.deadline_id, step.step_index),
            job_id=job_id,
            timeout=JOB_TIMEOUT,
            result_ttl=0,  # a finished job leaves no key behind
            description=f"escalate deadline {step.deadline_id} step {step.step_index}",
        )
    return Queue.prepare_data(
        ESCALATE_BATCH,
        args=([(s.deadline_id, s.step_index) for s in batch],),
        job_id=job_id,
        timeout=JOB_TIMEOUT,
        result_ttl=0,
        description=f"escalate {len(batch)} steps from deadline {batch[0].deadline_id}",
    )
