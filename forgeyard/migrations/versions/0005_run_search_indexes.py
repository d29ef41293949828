"""run search indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Indexes for ``GET /v1/runs`` and ``forgeyard runs list`` (agents/search.py):
a tenant's runs newest first (alone or by status, workflow, finish time), and
the steps a filter looks into (node reached, adapter or model that answered).
Fields of a run's input or output are not indexed: which fields a site
searches is its own choice (an expression index per field, if one is hot).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "runs": {
        "ix_runs_tenant_created": ["tenant_id", "created_at", "id"],
        "ix_runs_tenant_status_created": ["tenant_id", "status", "created_at"],
        "ix_runs_tenant_workflow_created": ["tenant_id", "workflow", "created_at"],
        "ix_runs_tenant_finished": ["tenant_id", "finished_at"],
    },
    "steps": {
        "ix_steps_run_node": ["run_id", "node"],
        "ix_steps_adapter_run": ["adapter", "run_id"],
        "ix_steps_model_run": ["model", "run_id"],
    },
}


def upgrade() -> None:
    for table, indexes in INDEXES.items():
        for name, columns in indexes.items():
            op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, indexes in INDEXES.items():
        for name in indexes:
            op.drop_index(name, table_name=table)
