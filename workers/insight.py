"""The training job of smart intake: a new category model version from the database's cases.

``enqueue_training`` queues it on the reports queue with a deterministic id per hour, so a
schedule (cron, or ``whistle models train`` by hand) that fires twice in an hour trains once.
``schedule_training`` is the sweeper's schedule: once per ``WHISTLE_INSIGHT_TRAIN_HOURS`` (one
Redis key per period, shared by every sweeper) it queues a training when enough classified cases
came in since the newest model. The job reads the database from the settings of its own process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy.orm import Session, sessionmaker

from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.insight import queries
from engine.insight.service import train
from workers.queues import REPORTS

JOB_TIMEOUT = 1800
# A scheduled training waits for this many newly classified cases: a model that saw nearly all
# of the history would learn nothing new, and an idle deployment trains never.
MIN_NEW_CASES = 50
SLOT_KEY = "whistle:insight:train-slot"


def train_model(queued_at: str | None = None) -> dict[str, Any]:
    """RQ job: train and store a new version; returns its version and metrics.

    The version is dated when it was queued, on the clock of whoever queued it (the sweeper's
    may run faster than the wall's), so "cases since the newest model" reads one clock."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    now = datetime.fromisoformat(queued_at) if queued_at else datetime.now(UTC)
    try:
        with make_session_factory(engine)() as session:
            row = train(session=session, now=now)
            return {"version": row.version, "kind": row.kind, "metrics": row.metrics}
    finally:
        engine.dispose()


def enqueue_training(connection: Redis, *, now: datetime) -> Job:
    """Queue one training for this hour (a second call in the same hour finds the first)."""
    job_id = f"insight-train-{now.astimezone(UTC):%Y%m%d%H}"
    existing = Job.fetch(job_id, connection=connection) if Job.exists(job_id, connection) else None
    if existing is not None:
        return existing
    return Queue(REPORTS, connection=connection).enqueue(
        train_model, now.isoformat(), job_id=job_id, job_timeout=JOB_TIMEOUT,
        result_ttl=7 * 24 * 3600,
    )  # fmt: skip


def schedule_training(
    connection: Redis, sessions: sessionmaker[Session], *, now: datetime, every: timedelta
) -> Job | None:
    """The sweeper's schedule: the first sweep of each period looks, and queues a training when
    ``MIN_NEW_CASES`` classified cases came in since the newest model (or ever, without one)."""
    seconds = int(every.total_seconds())
    if seconds <= 0:
        return None
    slot = int(now.timestamp()) // seconds
    if not connection.set(f"{SLOT_KEY}:{seconds}:{slot}", now.isoformat(), nx=True, ex=seconds):
        return None
    with sessions() as session:
        latest = queries.latest_model(session)
        fresh = queries.labelled_since(session, since=latest.created_at if latest else None)
    if fresh < MIN_NEW_CASES:
        return None
    return enqueue_training(connection, now=now)
