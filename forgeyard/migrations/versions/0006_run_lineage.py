"""run lineage: replays and forks are runs linked to their source

Revision ID: 0006
Revises: 0009
Create Date: 2026-12-01

Existing runs become ``kind = 'run'`` (server default) with no parent.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
# After main's newest (0009) at the time of writing; set to the head of the day when merging.
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parent_run_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="run",
            )
        )
        batch_op.add_column(sa.Column("replay", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_parent_run_id"), ["parent_run_id"], unique=False)
        batch_op.create_foreign_key("fk_runs_parent_run_id", "runs", ["parent_run_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_runs_parent_run_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_runs_parent_run_id"))
        batch_op.drop_column("replay")
        batch_op.drop_column("kind")
        batch_op.drop_column("parent_run_id")
