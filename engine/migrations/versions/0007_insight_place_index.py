"""Smart intake: an index on the cases of a place by time, for duplicate candidates at intake

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_area_path_created", "cases", ["area_path", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_area_path_created", table_name="cases")
