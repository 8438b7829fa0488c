"""Tables of the insight aggregate: the versioned category models and the links of a
governance item to the cases of its hotspot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.case.models import Case
from engine.db import Base, JSONType, UTCDateTime

# The cases of one place, newest first: what duplicate candidates at intake read (the insight
# aggregate's own index on the case table; migration 0007).
CASES_BY_PLACE = Index("ix_cases_area_path_created", Case.area_path, Case.created_at)


class InsightModel(Base):
    """One trained (or seeded) category model, with its metrics; the highest version is used."""

    __tablename__ = "insight_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "learned" or "seed"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    samples: Mapped[int] = mapped_column(Integer, default=0)
    unlabelled: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Cross-validated macro-F1, accuracy, top-3 accuracy, per-class F1 (classifier.Metrics).
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # What was dispatched for each category: {district id: {category id: {org id: [n, upheld]}}}.
    dispatch: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The pickled model: written by this program from its own cases, never shipped or downloaded.
    artefact: Mapped[bytes] = mapped_column(LargeBinary)


class CaseLink(Base):
    """A governance item (每月一题) and one case of the hotspot it was promoted from."""

    __tablename__ = "case_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    linked_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "hotspot"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("uq_case_links_pair", "case_id", "linked_case_id", unique=True),
        Index("ix_case_links_linked", "linked_case_id"),
    )
