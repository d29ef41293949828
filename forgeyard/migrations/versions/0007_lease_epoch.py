"""run lease epoch (fencing token), abandoned steps

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
# 0005 (run search indexes) comes first; 0006 (run lineage, another branch)
# goes between them when it is merged.
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    if op.get_bind().dialect.name == "postgresql":
        # A native enum on PostgreSQL; SQLite stores the name as text.
        op.execute("ALTER TYPE stepstatus ADD VALUE IF NOT EXISTS 'abandoned'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value; `abandoned` stays a valid (unused) status.
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("lease_epoch")
