"""The initial schema: organisation, cases, assignments, requests, deadlines and events.

Revision ID: 0001
Revises:
Create Date: 2026-03-02

Written from an autogenerate run and reviewed by hand. The models' type decorators are rendered
as what they store: UTCDateTime is a plain DateTime (naive UTC), JSONType is JSON with JSONB on
PostgreSQL. ``events.id`` is BIGINT, except on SQLite where only INTEGER PRIMARY KEY autoincrements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "categories",
    "org_nodes",
    "accounts",
    "routing_rules",
    "unit_registrations",
    "cases",
    "assignments",
    "case_requests",
    "deadlines",
    "events",
)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(), nullable=nullable)


def _fk(column: str, table: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def _organisation() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("default_priority", sa.String(length=16), nullable=False),
        sa.Column("attributes", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("parent_id", "categories", "categories"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_categories_code")),
    )
    op.create_table(
        "org_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("parent_id", "org_nodes", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_nodes")),
        sa.UniqueConstraint("code", name=op.f("uq_org_nodes_code")),
    )
    op.create_index("ix_org_nodes_kind_parent", "org_nodes", ["kind", "parent_id"])
    op.create_index("ix_org_nodes_path", "org_nodes", ["path"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _fk("scope_id", "accounts", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_accounts_username")),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("assisting_ids", _json(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _fk("area_id", "routing_rules", "org_nodes"),
        _fk("category_id", "routing_rules", "categories"),
        _fk("lead_id", "routing_rules", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_index(op.f("ix_routing_rules_category_id"), "routing_rules", ["category_id"])
    op.create_table(
        "unit_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        _at("registered_at"),
        _fk("community_id", "unit_registrations", "org_nodes"),
        _fk("unit_id", "unit_registrations", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_registrations")),
    )
    op.create_index(
        "uq_unit_registrations_pair",
        "unit_registrations",
        ["unit_id", "community_id"],
        unique=True,
    )


def _cases() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("street_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=40), nullable=True),
        sa.Column("reporter_account_id", sa.Integer(), nullable=True),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("dispatched_at", nullable=True),
        _at("resolved_at", nullable=True),
        _at("rated_at", nullable=True),
        _at("closed_at", nullable=True),
        sa.Column("rating", sa.String(length=32), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("verified_solved", sa.Boolean(), nullable=True),
        sa.Column("redo_count", sa.Integer(), nullable=False),
        sa.Column("extension_count", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("exclusion_reason", sa.String(length=64), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("area_id", "cases", "org_nodes"),
        _fk("category_id", "cases", "categories"),
        _fk("community_id", "cases", "org_nodes"),
        _fk("merged_into_id", "cases", "cases"),
        _fk("raised_by_id", "cases", "accounts"),
        _fk("reporter_account_id", "cases", "accounts"),
        _fk("street_id", "cases", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("source", "source_ref", name=op.f("uq_cases_source_source_ref")),
    )
    op.create_index("ix_cases_area_path", "cases", ["area_path"])
    op.create_index("ix_cases_category_state", "cases", ["category_id", "state"])
    op.create_index("ix_cases_created", "cases", ["created_at"])
    op.create_index("ix_cases_state_street", "cases", ["state", "street_id"])
    op.create_index("ix_cases_street_created", "cases", ["street_id", "created_at"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("objected_from", sa.String(length=16), nullable=True),
        sa.Column("objection_reason", sa.Text(), nullable=True),
        _at("created_at"),
        _at("accepted_at", nullable=True),
        _at("on_site_at", nullable=True),
        _at("done_at", nullable=True),
        _at("withdrawn_at", nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("service_hours", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("case_id", "assignments", "cases"),
        _fk("org_id", "assignments", "org_nodes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index("ix_assignments_case", "assignments", ["case_id"])
    op.create_index("ix_assignments_org_state", "assignments", ["org_id", "state"])
    op.create_table(
        "case_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        _at("requested_at"),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        _at("decided_at", nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        _fk("assignment_id", "case_requests", "assignments"),
        _fk("case_id", "case_requests", "cases"),
        _fk("decided_by_id", "case_requests", "accounts"),
        _fk("requested_by_id", "case_requests", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_requests")),
    )
    op.create_index(op.f("ix_case_requests_case_id"), "case_requests", ["case_id"])


def _clocks_and_events() -> None:
    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("limit", sa.String(length=16), nullable=False),
        _at("started_at"),
        _at("due_at"),
        sa.Column("state", sa.String(length=16), nullable=False),
        _at("closed_at", nullable=True),
        sa.Column("extension_count", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("next_step", sa.String(length=32), nullable=True),
        _at("next_fire_at", nullable=True),
        _fk("assignment_id", "deadlines", "assignments"),
        _fk("case_id", "deadlines", "cases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
    )
    op.create_index("ix_deadlines_assignment", "deadlines", ["assignment_id"])
    op.create_index("ix_deadlines_case", "deadlines", ["case_id"])
    op.create_index("ix_deadlines_next_fire_at", "deadlines", ["next_fire_at"])
    op.create_index("ix_deadlines_state_due", "deadlines", ["state", "due_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _at("at"),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        _fk("actor_id", "events", "accounts"),
        _fk("assignment_id", "events", "assignments"),
        _fk("case_id", "events", "cases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_events_case_id_seq")),
    )


def upgrade() -> None:
    _organisation()
    _cases()
    _clocks_and_events()


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before the tables they refer to.
    for table in reversed(TABLES):
        op.drop_table(table)
