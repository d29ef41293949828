"""job leases (training jobs, reward evaluations) and promotions as worker jobs

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-02

Training jobs and reward evaluations get the lease columns runs have
(``lease_owner``, ``lease_expires_at``, ``heartbeat_at``, ``lease_epoch``: the
fencing token, :mod:`forgeyard.leases`) and ``enqueued_at`` (when last sent to
a worker; a queued training job's ``heartbeat_at`` meant that before).
Evaluations count their ``attempts``.  ``promotions`` records each request to
promote an adapter, run by a worker under the same lease.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
# After main's head at the time of writing (0006); re-chained at merge if needed.
down_revision = "0006"
branch_labels = None
depends_on = None


def _lease_columns(*, heartbeat: bool) -> list[sa.Column]:
    columns = [
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("enqueued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    ]
    if heartbeat:
        columns.append(
            sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    return columns


def upgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        for column in _lease_columns(heartbeat=False):
            batch_op.add_column(column)
    # A queued job's heartbeat_at was when it was last sent.
    op.execute("UPDATE training_jobs SET enqueued_at = heartbeat_at")

    with op.batch_alter_table("reward_evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        for column in _lease_columns(heartbeat=True):
            batch_op.add_column(column)
        batch_op.create_index(batch_op.f("ix_reward_evaluations_status"), ["status"], unique=False)
    op.execute("UPDATE reward_evaluations SET enqueued_at = created_at")

    op.create_table(
        "promotions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("adapter_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "succeeded", "failed", name="promotionstatus"),
            nullable=False,
        ),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("gate", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_field", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        *_lease_columns(heartbeat=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["adapter_id"], ["adapters.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_promotions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promotions_adapter_id"), ["adapter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_promotions_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotions_status"))
        batch_op.drop_index(batch_op.f("ix_promotions_adapter_id"))
        batch_op.drop_index(batch_op.f("ix_promotions_tenant_id"))
    op.drop_table("promotions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS promotionstatus")
    with op.batch_alter_table("reward_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_evaluations_status"))
        for name in ("heartbeat_at", "enqueued_at", "lease_epoch", "lease_expires_at"):
            batch_op.drop_column(name)
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        for name in ("enqueued_at", "lease_epoch", "lease_expires_at", "lease_owner"):
            batch_op.drop_column(name)
