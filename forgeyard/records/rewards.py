"""SQL tables of the workbench: reward-model versions, their evaluations, human labels.

Created by the Alembic migration ``0003`` (never by ``create_all``), so SQLite
and PostgreSQL get the same tables.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from forgeyard.models import new_id, utcnow

__all__ = [
    "EvaluationRecord",
    "EvaluationStatus",
    "LabelKind",
    "LabelRecord",
    "RewardModelRecord",
    "RewardModelStatus",
]


class RewardModelStatus(StrEnum):
    draft = "draft"
    approved = "approved"


class EvaluationStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class LabelKind(StrEnum):
    score = "score"
    preference = "preference"


class RewardModelRecord(SQLModel, table=True):
    """One version of a reward-model spec, keyed by its content hash within a tenant."""

    __tablename__ = "reward_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "hash", name="uq_reward_models_version"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    workflow: str = Field(index=True, max_length=200)
    name: str = Field(index=True, max_length=200)
    version: str = Field(max_length=100)
    hash: str = Field(index=True, max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    source_path: str | None = Field(default=None, max_length=1000)
    status: RewardModelStatus = Field(default=RewardModelStatus.draft, max_length=16)
    latest_evaluation_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    approved_at: datetime | None = None


class EvaluationRecord(SQLModel, table=True):
    """One evaluation of one reward-model version: a job with progress and a report."""

    __tablename__ = "reward_evaluations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    reward_model_id: str = Field(foreign_key="reward_models.id", index=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    status: EvaluationStatus = Field(default=EvaluationStatus.queued, index=True, max_length=16)
    progress: float = 0.0
    message: str | None = Field(default=None, max_length=500)
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    passed: bool | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A worker job under a lease like a run's (forgeyard.leases, migration 0010):
    # leases taken, the lease and its fencing epoch, when last sent to a worker.
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_epoch: int = 0
    enqueued_at: datetime | None = None


class LabelRecord(SQLModel, table=True):
    """A person's judgement: a score of one answer, or a preference between two.

    An answer is a recorded run (``run_id``) or a dataset example
    (``example_id``); for a preference these name the chosen answer and the
    ``rejected_*`` columns the other.
    """

    __tablename__ = "reward_labels"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    workflow: str | None = Field(default=None, index=True, max_length=200)
    kind: LabelKind = Field(max_length=16)
    run_id: str | None = Field(default=None, index=True, max_length=32)
    example_id: str | None = Field(default=None, index=True, max_length=200)
    score: float | None = None
    rejected_run_id: str | None = Field(default=None, max_length=32)
    rejected_example_id: str | None = Field(default=None, max_length=200)
    by: str = Field(max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
