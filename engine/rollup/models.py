"""The rollup counters: one integer per (level, unit, month, metric, shard).

Writers add to them in the same transaction as the events that changed a case; the shard (case id
modulo ``SHARDS``) spreads concurrent writers of one busy unit over several rows. Readers sum the
shards. A row may hold 0; an absent row means 0.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

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
