"""reward models, evaluations, labels

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reward_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("kind", sa.Enum("score", "preference", name="labelkind"), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("example_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("rejected_run_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column(
            "rejected_example_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        ),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reward_labels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reward_labels_example_id"), ["example_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reward_labels_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reward_labels_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reward_labels_workflow"), ["workflow"], unique=False)

    op.create_table(
        "reward_models",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_path", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("status", sa.Enum("draft", "approved", name="rewardmodelstatus"), nullable=False),
        sa.Column(
            "latest_evaluation_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", "hash", name="uq_reward_models_version"),
    )
    with op.batch_alter_table("reward_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_models_hash"), ["hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_reward_models_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_reward_models_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reward_models_workflow"), ["workflow"], unique=False)

    op.create_table(
        "reward_evaluations",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reward_model_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "succeeded", "failed", name="evaluationstatus"),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reward_model_id"],
            ["reward_models.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reward_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reward_evaluations_reward_model_id"), ["reward_model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reward_evaluations_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reward_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_evaluations_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_reward_evaluations_reward_model_id"))

    op.drop_table("reward_evaluations")
    with op.batch_alter_table("reward_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_models_workflow"))
        batch_op.drop_index(batch_op.f("ix_reward_models_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_reward_models_name"))
        batch_op.drop_index(batch_op.f("ix_reward_models_hash"))

    op.drop_table("reward_models")
    with op.batch_alter_table("reward_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_labels_workflow"))
        batch_op.drop_index(batch_op.f("ix_reward_labels_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_reward_labels_run_id"))
        batch_op.drop_index(batch_op.f("ix_reward_labels_example_id"))

    op.drop_table("reward_labels")
    # PostgreSQL keeps enum types after their tables; SQLite has none to drop.
    for name in ("labelkind", "rewardmodelstatus", "evaluationstatus"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
