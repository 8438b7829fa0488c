"""Callbacks (回访): the current round's attempts on the case row, and why a case closed unrated

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("callback_outcome", sa.String(16), nullable=True))
        batch.add_column(sa.Column("callback_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("callback_days", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("close_reason", sa.String(16), nullable=True))
    # Cases closed before this revision were closed by their rating window.
    op.execute("UPDATE cases SET close_reason = 'unrated' WHERE state = 'closed'")


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in (
            "close_reason", "callback_days", "callback_at", "callback_outcome",
            "callback_attempts",
        ):  # fmt: skip
            batch.drop_column(name)
