"""How the timers stand: steps pending and due, clocks overdue, and how late the sweep runs.

``lag`` is the age of the oldest due step not applied yet: near zero while workers keep up, and
growing when they are stopped, behind, or failing. It is what an operator watches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.deadline.models import Deadline
from engine.vocabulary import DeadlineState


@dataclass(frozen=True, slots=True)
class DeadlineStatus:
    """Counts over the open deadlines at ``now``."""

    now: datetime
    pending: int  # open, next step still to come
    due: int  # open, next step due and not applied yet
    overdue: int  # open and past their due time
    oldest_due_at: datetime | None

    @property
    def lag(self) -> timedelta | None:
        """How long the oldest due step has waited; None when nothing is due."""
        return None if self.oldest_due_at is None else self.now - self.oldest_due_at

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values (instants in ISO 8601, the lag in seconds)."""
        lag = self.lag
        return {
            "now": self.now.isoformat(),
            "pending": self.pending,
            "due": self.due,
            "overdue": self.overdue,
            "oldest_due_at": self.oldest_due_at.isoformat() if self.oldest_due_at else None,
            "lag_seconds": None if lag is None else round(lag.total_seconds(), 3),
        }


def deadline_status(*, session: Session, now: datetime) -> DeadlineStatus:
    """The status of every open deadline at ``now`` (three index range scans)."""
    is_open = Deadline.state == DeadlineState.OPEN
    pending = session.scalar(select(func.count()).where(is_open, Deadline.next_fire_at > now))
    due, oldest = session.execute(
        select(func.count(), func.min(Deadline.next_fire_at)).where(
            is_open, Deadline.next_fire_at <= now
        )
    ).one()
    overdue = session.scalar(select(func.count()).where(is_open, Deadline.due_at < now))
    return DeadlineStatus(
        now=now, pending=pending or 0, due=due, overdue=overdue or 0, oldest_due_at=oldest
    )
