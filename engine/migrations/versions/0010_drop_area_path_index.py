"""Lean write path: drop the index on the cases' area path alone

``ix_cases_area_path_created`` (area path, then creation time) answers every lookup the
single-column index answered, from its leading column; the single one only cost every case
write (an insert, and each case UPDATE that PostgreSQL cannot make HOT) one more index entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_cases_area_path", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_area_path", "cases", ["area_path"])
