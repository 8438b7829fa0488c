"""The deadline table: the database is the only source of truth for every timer.

``next_fire_at`` is the time of the next ladder step (NULL once closed or the ladder is done), so
the sweeper's query is an index range scan over due rows only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime
from engine.vocabulary import DeadlineState


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

    __table_args__ = (
        Index("ix_deadlines_next_fire_at", "next_fire_at"),
        Index("ix_deadlines_case", "case_id"),
        Index("ix_deadlines_assignment", "assignment_id"),
        Index("ix_deadlines_state_due", "state", "due_at"),
    )
