"""The deadline tables: the database is the only source of truth for every timer.

``next_fire_at`` is the time of the next ladder step (NULL once closed or the ladder is done), so
the sweeper's query is an index range scan over due rows only. A sweeper marks the rows it has
handed to the queue (``claim_token``, ``claimed_at``); ``escalation_steps`` records each applied
step once, and ``clock_epochs`` anchors the shared simulated time of a faster demo clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime
from engine.vocabulary import DeadlineState, Trigger


class Deadline(Base):
    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    clock: Mapped[str] = mapped_column(String(32))
    limit: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[DeadlineState] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    # Index into the clock's ladder of the next step to apply, and when it falls due.
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    next_step: Mapped[str | None] = mapped_column(String(32))
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The sweeper that last enqueued the next step, and when: a hint that saves re-enqueueing,
    # never a lock. It lapses after a lease, or at once when Redis comes back empty (new token).
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_deadlines_next_fire_at", "next_fire_at"),
        Index("ix_deadlines_case", "case_id"),
        Index("ix_deadlines_assignment", "assignment_id"),
        Index("ix_deadlines_state_due", "state", "due_at"),
    )


class EscalationStep(Base):
    """One applied ladder step of one deadline: at most one row per (deadline, step index)."""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id"))
    step: Mapped[Trigger] = mapped_column(String(32))
    step_index: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("events.id")
    )

    __table_args__ = (
        UniqueConstraint("deadline_id", "step_index"),
        Index("ix_escalation_steps_applied_at", "applied_at"),
    )


class ClockEpoch(Base):
    """Where a scaled clock started: at wall time ``real_start`` it read ``simulated_start``."""

    __tablename__ = "clock_epochs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    real_start: Mapped[datetime] = mapped_column(UTCDateTime())
    simulated_start: Mapped[datetime] = mapped_column(UTCDateTime())
    speed: Mapped[float] = mapped_column(Float)
