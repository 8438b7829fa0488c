"""The training job of smart intake: a new category model version from the database's cases.

``enqueue_training`` queues it on the reports queue with a deterministic id per hour, so a
schedule (cron, or ``whistle models train`` by hand) that fires twice in an hour trains once.
The job reads the database from the settings of its own process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job

from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.insight.service import train
from workers.queues import REPORTS

JOB_TIMEOUT = 1800


def train_model() -> dict[str, Any]:
    """RQ job: train and store a new version; returns its version and metrics."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            row = train(session=session, now=datetime.now(UTC))
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
        train_model, job_id=job_id, job_timeout=JOB_TIMEOUT, result_ttl=7 * 24 * 3600
    )
