"""A district's own working-day calendar and time zone (calendars per jurisdiction)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("calendar")
