"""Tables of the evaluation: the rollup counters and the communities' annual ratings of units.

``evaluation_rollups`` holds one integer per (level, unit, month, metric, shard). Writers add to it
in the same transaction as the events that changed a case; the shard (case id modulo
``SHARDS``) spreads concurrent writers of one busy unit over several rows. Readers sum the shards.
A row may hold 0; an absent row means 0.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UTCDateTime

SHARDS = 8


class Rollup(Base):
    __tablename__ = "evaluation_rollups"

    level: Mapped[str] = mapped_column(String(16))
    # The cohort month as YYYYMM (202603): compact, sortable, a range is BETWEEN.
    month: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    metric: Mapped[str] = mapped_column(String(32))
    shard: Mapped[int] = mapped_column(SmallInteger)
    value: Mapped[int] = mapped_column(BigInteger)

    # Unit before month: a report reads a few units' months (an index probe per unit).
    __table_args__ = (PrimaryKeyConstraint("level", "unit_id", "month", "metric", "shard"),)


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
