"""SQL tables of training: GRPO jobs, their per-step metrics, the adapter registry.

Created by the Alembic migrations ``0004`` and ``0010`` (never by
``create_all``), so SQLite and PostgreSQL get the same tables.  Training jobs
and promotions are worker jobs leased like runs (:mod:`forgeyard.leases`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from forgeyard.models import new_id, utcnow

__all__ = [
    "AdapterRecord",
    "AdapterStatus",
    "PromotionRecord",
    "PromotionStatus",
    "TrainingJobRecord",
    "TrainingJobStatus",
    "TrainingMetricRecord",
]


class TrainingJobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def finished(self) -> bool:
        return self in (TrainingJobStatus.succeeded, TrainingJobStatus.failed)


class PromotionStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def finished(self) -> bool:
        return self in (PromotionStatus.succeeded, PromotionStatus.failed)


class AdapterStatus(StrEnum):
    candidate = "candidate"
    active = "active"
    retired = "retired"


class TrainingJobRecord(SQLModel, table=True):
    """One GRPO training job: its configuration, progress, outcome and adapter."""

    __tablename__ = "training_jobs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    workflow: str = Field(max_length=200)
    node: str = Field(max_length=200)
    reward_model_id: str = Field(foreign_key="reward_models.id", max_length=32)
    base_model: str = Field(max_length=1000)
    # The full GRPO configuration as submitted (``training.config.GRPOJobConfig``).
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: TrainingJobStatus = Field(default=TrainingJobStatus.queued, index=True, max_length=16)
    step: int = 0
    total_steps: int = 0
    message: str | None = Field(default=None, max_length=500)
    output_dir: str | None = Field(default=None, max_length=1000)
    # Summary once finished: final metrics, held-out evaluation, plot path.
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    adapter_id: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, sa_column=Column(Text))
    # Leases taken (each worker's try); ``training_max_attempts`` bounds it.
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    # The worker lease (forgeyard.leases); ``lease_epoch`` is the fencing token.
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = None
    lease_epoch: int = 0
    # When it was last sent to a worker (the sweeper sends a lost message again).
    enqueued_at: datetime | None = None


class TrainingMetricRecord(SQLModel, table=True):
    """One logged optimisation step of a training job."""

    __tablename__ = "training_metrics"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_training_metrics_step"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="training_jobs.id", index=True, max_length=32)
    step: int
    reward_mean: float | None = None
    reward_std: float | None = None
    frac_zero_std: float | None = None
    kl: float | None = None
    loss: float | None = None
    # Everything else TRL logged at this step (learning rate, lengths, …).
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class AdapterRecord(SQLModel, table=True):
    """A trained LoRA adapter for one tenant's workflow node.

    ``candidate`` after training; ``active`` once it passed the promotion gate
    (at most one active adapter per tenant, workflow and node: that one answers
    the node in the tenant's runs); ``retired`` when replaced or rolled back.
    """

    __tablename__ = "adapters"
    # The database itself refuses a second active adapter for one tenant's node,
    # whatever two concurrent promotions do (a partial unique index).
    __table_args__ = (
        Index(
            "uq_adapters_one_active",
            "tenant_id",
            "workflow",
            "node",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    workflow: str = Field(index=True, max_length=200)
    node: str = Field(max_length=200)
    base_model: str = Field(max_length=1000)
    reward_model_id: str = Field(foreign_key="reward_models.id", max_length=32)
    training_job_id: str | None = Field(default=None, max_length=32)
    path: str = Field(max_length=1000)
    rank: int
    status: AdapterStatus = Field(default=AdapterStatus.candidate, index=True, max_length=16)
    # Training metrics and the held-out evaluation the gate decided on.
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    gate: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # The adapter this one replaced when promoted (rollback returns to it).
    previous_adapter_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    promoted_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def served_name(self) -> str:
        """The name vLLM serves it under (``model`` in requests)."""
        return f"adapter-{self.id}"


class PromotionRecord(SQLModel, table=True):
    """One request to promote a candidate adapter: a worker job that runs the gate.

    ``succeeded``: the adapter is active; ``failed``: ``error`` says why, and
    ``error_field`` names what (``gate`` when the gate refused it: its
    figures are in ``gate``; ``status``, ``rank``, ``node`` … otherwise).
    """

    __tablename__ = "promotions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    adapter_id: str = Field(foreign_key="adapters.id", index=True, max_length=32)
    status: PromotionStatus = Field(default=PromotionStatus.queued, index=True, max_length=16)
    # The gate's parameters given with the request (held_out, held_out_seed, margin).
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message: str | None = Field(default=None, max_length=500)
    gate: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    error_field: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_epoch: int = 0
    enqueued_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
