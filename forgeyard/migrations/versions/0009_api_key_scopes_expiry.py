"""api keys: scopes and expiry

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01

Keys created before scopes existed could do everything; they keep that
(`["admin"]`) until an operator replaces them with narrower keys.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE api_keys SET scopes = '[\"admin\"]'")


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
