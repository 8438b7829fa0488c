"""Tables of the organisation aggregate.

Org nodes form one tree with a materialised ``path`` ("/1/4/17/") so that "inside this street"
is a prefix match, not a recursive query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, JSONType, UTCDateTime
from engine.vocabulary import OrgKind, Priority, Role


class OrgNode(Base):
    __tablename__ = "org_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrgKind] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(400), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A district's own working-day calendar (``CN``, or a holidays region such as ``US-MA``) and
    # time zone; none: the deployment's (WHISTLE_TIMEZONE, the official Chinese calendar).
    calendar: Mapped[str | None] = mapped_column(String(16), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (
        Index("ix_org_nodes_kind_parent", "kind", "parent_id"),
        Index("ix_org_nodes_path", "path"),
    )

    def within(self, other: OrgNode) -> bool:
        """True when this node is ``other`` or lies below it."""
        return self.path.startswith(other.path)


class UnitRegistration(Base):
    """A co-building unit registered with a community (双报到)."""

    __tablename__ = "unit_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("uq_unit_registrations_pair", "unit_id", "community_id", unique=True),)


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    workflow: Mapped[str] = mapped_column(String(64), default="hotline")
    default_priority: Mapped[Priority] = mapped_column(String(16), default=Priority.NORMAL)
    # Open311 service-definition attributes: [{"code": ..., "datatype": ..., ...}]
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Words residents use for this category (engine/insight seeds its suggestions from them).
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(Base):
    """Category (and optionally an area) → lead department + assisting departments."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("org_nodes.id"))
    assisting_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    note: Mapped[str | None] = mapped_column(Text)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(String(32))
    scope_id: Mapped[int | None] = mapped_column(ForeignKey("org_nodes.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
