"""Tables of the case aggregate: the case row and the requests that wait for a decision.

``version`` is SQLAlchemy's version counter: every use case writes the case row, so two writers
of one case can never both commit, and the per-case event chain stays linear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, JSONType, UTCDateTime
from engine.vocabulary import (
    CallbackOutcome,
    CaseState,
    CloseReason,
    Priority,
    Rating,
    RequestKind,
    RequestStatus,
    Source,
)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    state: Mapped[CaseState] = mapped_column(String(32))
    priority: Mapped[Priority] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    # The deepest area known (grid, community or street) and its path, for scope checks.
    area_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    area_path: Mapped[str] = mapped_column(String(400))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(400))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(40))
    reporter_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    source: Mapped[Source] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(100))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rating: Mapped[Rating | None] = mapped_column(String(32))
    solved: Mapped[bool | None] = mapped_column(Boolean)
    stars: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    verified_solved: Mapped[bool | None] = mapped_column(Boolean)
    redo_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    exclusion_reason: Mapped[str | None] = mapped_column(String(64))
    # Facts for the evaluation, noted when they become known (engine/case/facts.py):
    # whether the last resolution beat its resolve-by (None: not resolved, or no such clock),
    # and the supervisions and red steps applied to any of the case's clocks.
    resolved_on_time: Mapped[bool | None] = mapped_column(Boolean)
    supervise_count: Mapped[int] = mapped_column(Integer, default=0)
    red_count: Mapped[int] = mapped_column(Integer, default=0)
    # Callbacks (回访) on the current result (a redo starts a new round): how many attempts, how
    # the last went and when it was made, on how many different local days nobody answered;
    # the attempts themselves are the case's ``callback`` events (engine/case/callbacks.py).
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callback_outcome: Mapped[CallbackOutcome | None] = mapped_column(String(16))
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    callback_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why a resolved case was closed without a rating (window passed, unreachable, refused).
    close_reason: Mapped[CloseReason | None] = mapped_column(String(16))

    # The head of the per-case audit chain; kept here so appending needs no read of the events.
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own idiom
    __table_args__ = (
        UniqueConstraint("source", "source_ref"),
        Index("ix_cases_state_street", "state", "street_id"),
        Index("ix_cases_street_created", "street_id", "created_at"),
        Index("ix_cases_category_state", "category_id", "state"),
        # The area path's lookups use ix_cases_area_path_created (engine.insight.models).
        Index("ix_cases_created", "created_at"),
        Index("ix_cases_dispatched", "dispatched_at"),  # evaluation cohorts and drill-down
        Index("ix_cases_reporter_phone", "reporter_phone"),  # same-caller duplicates (insight)
    )


class CaseRequest(Base):
    """An extension, hard-case or appeal request and its decision."""

    __tablename__ = "case_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    kind: Mapped[RequestKind] = mapped_column(String(16))
    status: Mapped[RequestStatus] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
