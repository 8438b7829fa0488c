"""Outgoing webhooks as pure functions: the body, its signature, and the delivery state machine.

Nothing here does IO; the worker (``workers/webhooks.py``) makes the POST and records its outcome
through ``record_success`` / ``record_failure``.

Signature scheme (what a receiver checks)
-----------------------------------------
Each POST carries the UTF-8 JSON body (``Content-Type: application/json; charset=utf-8``) and:

- ``X-Whistle-Timestamp``: the Unix time of this attempt, in whole seconds;
- ``X-Whistle-Signature``: ``sha256=`` + the lowercase hex HMAC-SHA256, keyed with the
  subscription's secret (UTF-8), of the bytes ``<timestamp>`` ``.`` ``<body>`` — the timestamp
  header's exact text, one full stop, then the exact body bytes as received;
- ``X-Whistle-Delivery``: the delivery id, the same on every retry of one delivery;
- ``X-Whistle-Event``: the notification kind (``remind``, ``overdue``, ``supervise``, ``red``…).

A receiver recomputes the HMAC over the raw body before parsing it, compares in constant time, and
rejects a timestamp more than ``TOLERANCE`` (5 minutes) from its own clock: a captured request
cannot be replayed later, and because the timestamp is inside the signed material it cannot be
refreshed without the secret. Every attempt is signed afresh, so a retry an hour later still
passes. Delivery is at least once (a crash between a 2xx and recording it sends again), so a
receiver drops a ``X-Whistle-Delivery`` it has already processed; remembering the ids of the last
``TOLERANCE`` suffices, since anything older fails the timestamp check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine.clock import utc_stamp
from engine.errors import IllegalTransition
from engine.notification.models import (
    DeliveryState,
    Notification,
    WebhookDelivery,
)

TOLERANCE = timedelta(minutes=5)
SIGNATURE_HEADER = "X-Whistle-Signature"
TIMESTAMP_HEADER = "X-Whistle-Timestamp"
DELIVERY_HEADER = "X-Whistle-Delivery"
EVENT_HEADER = "X-Whistle-Event"
_SCHEME = "sha256="
_ERROR_LENGTH = 500
_MAX_DIGITS = 11  # Unix seconds until the year 5138: enough, and no overflow in fromtimestamp


class WebhookCase(Protocol):
    """The fields of a case a webhook body carries."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def workflow(self) -> str: ...
    @property
    def priority(self) -> str: ...


def event_body(*, notification: Notification, case: WebhookCase) -> dict[str, Any]:
    """What a subscriber receives about one notification; no reporter's personal data."""
    payload = notification.payload
    return {
        "event": str(notification.kind),
        "notification_id": notification.id,
        "org_id": notification.org_id,
        "created_at": utc_stamp(notification.created_at),
        "title_zh": notification.title_zh,
        "title_en": notification.title_en,
        "case": {
            "id": case.id,
            "title": case.title,
            "state": str(case.state),
            "workflow": case.workflow,
            "priority": str(case.priority),
        },
        "clock": payload.get("clock"),
        "step": payload.get("step"),
        "due_at": payload.get("due_at"),
        "payload": payload,
        # Relative to the API's base URL, which the receiver knows and we may not.
        "links": {"case": f"/api/v1/cases/{case.id}", "notifications": "/api/v1/notifications"},
    }


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: keys sorted, so every attempt sends the same bytes."""
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Whistle-Signature`` value for this timestamp header and body."""
    material = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), material, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    signature: str,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> bool:
    """Whether a received body is authentic and fresh (what a receiver runs)."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_DIGITS:
        return False
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


def request_headers(
    *, delivery: WebhookDelivery, secret: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers of one attempt, signed at ``now``."""
    timestamp = str(int(now.timestamp()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "whistle-webhooks/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery.id),
        EVENT_HEADER: str(delivery.body.get("event", "")),
    }


def wants(kinds: Sequence[str], kind: str) -> bool:
    """Whether an active subscription that takes ``kinds`` takes notifications of ``kind`` (no
    kinds named: every kind)."""
    return not kinds or kind in kinds


def new_delivery(
    *,
    subscription_id: int,
    notification: Notification,
    body: dict[str, Any],
    now: datetime,
) -> WebhookDelivery:
    """A pending delivery, due at once."""
    return WebhookDelivery(
        subscription_id=subscription_id,
        notification_id=notification.id,
        body=body,
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _check_pending(delivery: WebhookDelivery, outcome: str) -> None:
    if delivery.state != DeliveryState.PENDING:
        raise IllegalTransition(
            f"webhook delivery {delivery.id} is '{delivery.state}'; "
            f"'{outcome}' is recorded from 'pending' only"
        )


def record_success(delivery: WebhookDelivery, *, status_code: int, now: datetime) -> None:
    """A 2xx answer: the delivery is done and is never sent again."""
    _check_pending(delivery, "delivered")
    delivery.attempts += 1
    delivery.state = DeliveryState.DELIVERED
    delivery.last_status_code = status_code
    delivery.last_error = None
    delivery.last_attempt_at = now
    delivery.delivered_at = now
    delivery.next_attempt_at = None


def record_failure(
    delivery: WebhookDelivery,
    *,
    status_code: int | None,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """A failed attempt: pending again until ``retry_at``, or ``failed`` when none is left."""
    _check_pending(delivery, "failed attempt")
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error[:_ERROR_LENGTH]
    delivery.last_attempt_at = now
    if retry_at is None:
        delivery.state = DeliveryState.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = retry_at
