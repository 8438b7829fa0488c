"""The webhook delivery job: POST one signed delivery and record what happened.

Retries are RQ's: each delivery is enqueued with ``Retry(max=len(backoff), interval=backoff)`` and
the job raises ``DeliveryFailed`` after recording a failed attempt, so RQ schedules the next one
(the worker must run its scheduler: ``work(with_scheduler=True)``; in burst mode the scheduler
only moves what is already due, so a burst run does not wait out a backoff). We chose that over
re-enqueueing with ``enqueue_in`` because the job id stays ``wh-<delivery>`` for the delivery's
whole life — one RQ job to look up, a retry can never run beside its own predecessor — and RQ
keeps the final failure in its failed registry beside our ``failed`` row. The job learns whether
another attempt follows from RQ (``retries_left``) and writes that time into ``next_attempt_at``.

The database is the record: a delivered or failed row is never sent again (a retried job after a
success does nothing), and a pending row whose job Redis lost is found by
``engine.notification.service.due_deliveries`` and enqueued again with ``enqueue_deliveries``.
Signatures and timestamps use the wall clock, not a simulated one: receivers check them against
theirs, and RQ schedules retries in real seconds.
"""

from __future__ import annotations

import http.client
import logging
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import IO
from urllib.error import HTTPError, URLError

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock, SystemClock
from engine.config import get_settings
from engine.db import make_engine, make_session_factory
from engine.errors import NotFound
from engine.notification.models import DeliveryState, WebhookDelivery, WebhookSubscription
from engine.notification.webhook import (
    encode_body,
    record_failure,
    record_success,
    request_headers,
)
from engine.uow import committed

log = logging.getLogger(__name__)

# Exponential, ×4 from 15 s: six attempts spread over about 85 minutes. Whole seconds, because
# RQ's scheduled registry scores jobs by whole seconds.
DEFAULT_BACKOFF: tuple[int, ...] = (15, 60, 240, 960, 3840)
HTTP_TIMEOUT = 5.0
_JOB_TIMEOUT = 60
_READ_LIMIT = 64 * 1024
_ERROR_BODY = 200
_FINISHED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


class DeliveryFailed(Exception):
    """An attempt failed (non-2xx, refused, timed out); raised so that RQ retries the job."""


def job_id(delivery_id: int) -> str:
    """The RQ job id of a delivery (RQ allows letters, digits, ``_`` and ``-``)."""
    return f"wh-{delivery_id}"


def enqueue_deliveries(
    queue: Queue, delivery_ids: Iterable[int], *, backoff: Sequence[int] = DEFAULT_BACKOFF
) -> list[int]:
    """Enqueue each delivery once; return the ids enqueued now (the rest are already in hand).

    Call it after the transaction that created the deliveries has committed.
    """
    retry = Retry(max=len(backoff), interval=list(backoff)) if backoff else None
    enqueued = []
    for delivery_id in delivery_ids:
        if _enqueue_one(queue, delivery_id, retry):
            enqueued.append(delivery_id)
    return enqueued


def _enqueue_one(queue: Queue, delivery_id: int, retry: Retry | None) -> bool:
    for _ in range(2):
        try:
            queue.enqueue(
                deliver_webhook, delivery_id, job_id=job_id(delivery_id), retry=retry,
                job_timeout=_JOB_TIMEOUT, unique=True,
            )  # fmt: skip
            return True
        except DuplicateJobError:
            if not _drop_if_finished(queue.connection, job_id(delivery_id)):
                return False  # queued, scheduled or running: it will get there
    return False


def _drop_if_finished(connection: Redis, rq_id: str) -> bool:
    # A finished job's hash outlives it (result and failure TTLs); when the row says the delivery
    # is still pending, that old job must make way for a new one.
    try:
        job = Job.fetch(rq_id, connection=connection)
    except NoSuchJobError:
        return True
    if job.get_status(refresh=False) not in _FINISHED:
        return False
    job.delete()
    return True


def deliver_webhook(delivery_id: int) -> None:
    """RQ job: one attempt at one delivery, in its own database session."""
    engine = make_engine(get_settings().effective_database_url)
    try:
        attempt(
            make_session_factory(engine), delivery_id, retry_in=_retry_in(), clock=SystemClock()
        )
    finally:
        engine.dispose()


def _retry_in() -> int | None:
    """Seconds until RQ runs this job again if it fails now; None on its last attempt."""
    job = get_current_job()
    if job is None or not job.retries_left:
        return None
    return int(job.get_retry_interval())


def attempt(
    factory: sessionmaker[Session],
    delivery_id: int,
    *,
    retry_in: int | None,
    clock: Clock,
    timeout: float = HTTP_TIMEOUT,
) -> DeliveryState:
    """POST a pending delivery and record the outcome; raise ``DeliveryFailed`` if it failed."""
    with factory() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        if delivery.state != DeliveryState.PENDING:
            log.info("webhook delivery %s is %s already: not sent", delivery_id, delivery.state)
            return delivery.state
        subscription = session.get(WebhookSubscription, delivery.subscription_id)
        assert subscription is not None  # a foreign key
        url, active = subscription.url, subscription.active
        body = encode_body(delivery.body)
        headers = request_headers(
            delivery=delivery, secret=subscription.secret, body=body, now=clock.now()
        )
    # No transaction stays open across the network call.
    if active:
        status, error = post(url, body, headers, timeout=timeout)
    else:
        status, error, retry_in = None, f"subscription {subscription.id} is inactive", None
    return _record(factory, delivery_id, url, status, error, retry_in, clock)


def _record(
    factory: sessionmaker[Session],
    delivery_id: int,
    url: str,
    status: int | None,
    error: str | None,
    retry_in: int | None,
    clock: Clock,
) -> DeliveryState:
    now = clock.now()
    with factory() as session:
        stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        delivery = session.scalars(stmt).one()
        if delivery.state != DeliveryState.PENDING:
            # Another run of this delivery recorded first (a Redis-loss re-enqueue raced a retry).
            return delivery.state
        with committed(session):
            if error is None:
                assert status is not None
                record_success(delivery, status_code=status, now=now)
            else:
                retry_at = None if retry_in is None else now + timedelta(seconds=retry_in)
                record_failure(
                    delivery, status_code=status, error=error, now=now, retry_at=retry_at
                )
        state, attempts = delivery.state, delivery.attempts
    if error is not None:
        raise DeliveryFailed(
            f"webhook delivery {delivery_id} to {url}, attempt {attempts}: {error} ({state})"
        )
    return state


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: following it would turn the POST into a body-less GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects())


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> tuple[int | None, str | None]:
    """POST once: (status code, None) on a 2xx, else (status code or None, what went wrong)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(_READ_LIMIT)
            return int(response.status), None
    except HTTPError as exc:
        snippet = exc.read(_ERROR_BODY).decode("utf-8", "replace")
        return exc.code, f"HTTP {exc.code} {exc.reason}" + (f": {snippet}" if snippet else "")
    except URLError as exc:
        return None, f"{type(exc.reason).__name__}: {exc.reason}"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
