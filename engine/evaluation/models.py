"""Tables of the evaluation: the communities' annual ratings of units (the rollup counters are in
``engine/rollup/models.py``).

``evaluation_rollups`` holds one integer per (level, unit, month, metric, shard). Writers add to it
in the same transaction as the events that changed a case; the shard (case id modulo
``SHARDS``) spreads concurrent writers of one busy unit over several rows. Readers sum the shards.
A row may hold 0; an absent row means 0.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime


class UnitRating(Base):
    """A community's annual rating of a co-building unit registered with it (0–100)."""

    __tablename__ = "unit_ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    year: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("unit_id", "community_id", "year"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        Index("ix_unit_ratings_year_unit", "year", "unit_id"),
    )
