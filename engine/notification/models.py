"""Tables of the notification aggregate: inbox rows, webhook subscriptions and their deliveries.

One ``Notification`` row per recipient org node, so each department or command centre reads its
own copy. A ``WebhookDelivery`` is one notification bound for one subscription; its state is the
record of what was sent, the retry schedule itself lives in RQ.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, JSONType, UTCDateTime
from engine.vocabulary import Trigger


class DeliveryState(StrEnum):
    """Where a webhook delivery stands: ``delivered`` and ``failed`` are final."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The department, street or district node it is for (its inbox).
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[Trigger] = mapped_column(String(32))
    title_zh: Mapped[str] = mapped_column(String(400))
    title_en: Mapped[str] = mapped_column(String(400))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    __table_args__ = (
        Index("ix_notifications_org_read_created", "org_id", "read_at", "created_at"),
        Index("ix_notifications_case", "case_id"),
    )


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as given: it keys the HMAC of every body, so it cannot be stored hashed.
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Notification kinds to send; empty means every kind.
    kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)

    __table_args__ = (Index("ix_webhook_subscriptions_org_active", "org_id", "active"),)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[DeliveryState] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the next attempt is due while pending (a sweep re-enqueues what Redis lost); else NULL.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_state", "subscription_id", "state"),
    )
