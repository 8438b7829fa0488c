"""The assignment table: one department's share of a case (lead 主办 or assisting 协办)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, JSONType, UTCDateTime
from engine.vocabulary import AssignmentRole, AssignmentState


class Assignment(Base):
    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    role: Mapped[AssignmentRole] = mapped_column(String(16))
    state: Mapped[AssignmentState] = mapped_column(String(16))
    # Where an objection was raised from, so a rejected objection returns exactly there.
    objected_from: Mapped[AssignmentState | None] = mapped_column(String(16))
    objection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_site_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(Text)
    # The command centre's order to this department (派单意见), given at dispatch.
    instruction: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)
    service_hours: Mapped[float | None] = mapped_column(Float)
    # Facts for the evaluation (engine/case/facts.py): accepted / reported in within the
    # limit (None: not yet), and the supervisions and red steps charged to this assignment.
    accepted_on_time: Mapped[bool | None] = mapped_column(Boolean)
    reported_in_on_time: Mapped[bool | None] = mapped_column(Boolean)
    supervise_count: Mapped[int] = mapped_column(Integer, default=0)
    red_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own idiom
    __table_args__ = (
        Index("ix_assignments_case", "case_id"),
        Index("ix_assignments_org_state", "org_id", "state"),
    )
