"""SQL tables: the source of truth for runs, their steps and their effects.

Redis (later) only carries messages; everything needed to inspect, replay or
resume a run is here.  The schema is created by the Alembic migrations in
``forgeyard/migrations`` — never by ``create_all`` — so SQLite and PostgreSQL
get the same tables.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    waiting_approval = "waiting_approval"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled)


class RunKind(StrEnum):
    """What made a run: a request, or an operator replaying or forking another run."""

    run = "run"
    replay_recorded = "replay_recorded"
    replay_what_if = "replay_what_if"
    fork = "fork"


class StepStatus(StrEnum):
    ok = "ok"
    error = "error"
    interrupted = "interrupted"
    # The try a worker was in when it lost the run's lease (it died or froze);
    # recorded once by the worker that took the run over.
    abandoned = "abandoned"


class WorkflowSpecRecord(SQLModel, table=True):
    """A workflow spec exactly as a run started with it, keyed by content hash."""

    __tablename__ = "workflow_specs"

    hash: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True, max_length=200)
    version: str = Field(max_length=100)
    source: str = Field(sa_column=Column(Text, nullable=False))
    source_path: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class Tenant(SQLModel, table=True):
    """A customer of this installation; every run, key and registered spec belongs to one."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """A tenant's API key; only its SHA-256 is stored, the key is shown once."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    name: str = Field(default="", max_length=200)
    key_hash: str = Field(unique=True, max_length=64)
    # What the key may do (forgeyard.tenants.SCOPES); `admin` implies every scope.
    scopes: list[str] = Field(default_factory=lambda: ["admin"], sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class WorkflowRegistration(SQLModel, table=True):
    """A spec version a tenant registered over the API (name + version → exact spec)."""

    __tablename__ = "workflow_registrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version", name="uq_workflow_registrations_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    version: str = Field(max_length=100)
    spec_hash: str = Field(foreign_key="workflow_specs.hash", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_runs_tenant_idempotency_key"),
        # Run search (agents/search.py): a tenant's runs newest first, with or
        # without a status or workflow filter, read in index order (migration 0005).
        Index("ix_runs_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_runs_tenant_status_created", "tenant_id", "status", "created_at"),
        Index("ix_runs_tenant_workflow_created", "tenant_id", "workflow", "created_at"),
        Index("ix_runs_tenant_finished", "tenant_id", "finished_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(default="default", index=True, max_length=64)
    workflow: str = Field(index=True, max_length=200)
    workflow_version: str = Field(max_length=100)
    spec_hash: str = Field(foreign_key="workflow_specs.hash", max_length=64)
    status: RunStatus = Field(default=RunStatus.queued, index=True, max_length=32)
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    output: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    pending_approval: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    # Submission over HTTP: the client's Idempotency-Key and a hash of its request.
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    webhook_url: str | None = Field(default=None, max_length=2000)
    # Superseded by ``webhook_deliveries`` (one row per event, migration 0011);
    # kept so runs announced before it still show what happened.
    webhook_attempts: int = 0
    webhook_delivered_at: datetime | None = None
    webhook_error: str | None = Field(default=None, sa_column=Column(Text))

    # The worker lease: one worker executes a run at a time and renews the
    # lease with a heartbeat; an expired lease on an unfinished run means the
    # worker died, and the sweeper hands the run to another worker.  Taking the
    # lease increments ``lease_epoch`` (the fencing token, forgeyard.leases):
    # a worker's writes only land while its epoch is current.
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, index=True)
    heartbeat_at: datetime | None = None
    enqueued_at: datetime | None = None
    executions: int = 0
    lease_epoch: int = 0

    # Lineage: a replay or fork is a new run pointing at its source, which it
    # never changes.  ``replay`` holds how it was made (mode, adapter, fork
    # step, patch) and, once finished, its result (identical / diverged at …).
    # ``kind`` is a plain string column (not a database enum) so adding a kind
    # needs no type migration on PostgreSQL.
    parent_run_id: str | None = Field(
        default=None, foreign_key="runs.id", index=True, max_length=32
    )
    kind: RunKind = Field(
        default=RunKind.run,
        sa_column=Column(String(32), nullable=False, server_default=RunKind.run.value),
    )
    replay: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookDelivery(SQLModel, table=True):
    """One webhook event of a run (it waits for a person, it finished) and its delivery.

    The id is the Standard Webhooks ``webhook-id``: the same on every try and
    redelivery, so a receiver can drop what it has seen.  The body is fixed when
    the event happens; each try signs it afresh with the time of that try.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One event per happening, however often a worker reaches it (at-least-once tasks).
        UniqueConstraint("run_id", "key", name="uq_webhook_deliveries_run_key"),
    )

    id: str = Field(primary_key=True, max_length=40)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    event: str = Field(max_length=64)
    key: str = Field(max_length=200)
    url: str = Field(max_length=2000)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: DeliveryStatus = Field(
        default=DeliveryStatus.pending,
        sa_column=Column(String(16), nullable=False, server_default="pending"),
    )
    # Tries since the event was queued (or last redelivered); the setting bounds them.
    attempts: int = 0
    redeliveries: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Approval(SQLModel, table=True):
    """A decision on a run waiting for approval, recorded before a worker carries it out."""

    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    node: str | None = Field(default=None, max_length=200)
    approved: bool
    by: str = Field(max_length=200)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    # Set once a worker has resumed the run with this decision (or a later one replaced it).
    consumed_at: datetime | None = None


class Step(SQLModel, table=True):
    """One execution attempt of one node: the unit of the recorded trace."""

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_steps_run_seq"),
        # Run search: "reached node N", "answered by adapter/model M" (migration 0005).
        Index("ix_steps_run_node", "run_id", "node"),
        Index("ix_steps_adapter_run", "adapter", "run_id"),
        Index("ix_steps_model_run", "model", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    seq: int
    node: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    visit: int = 0
    attempt: int = 1
    status: StepStatus = Field(max_length=32)
    input: Any | None = Field(default=None, sa_column=Column(JSON))
    output: Any | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, sa_column=Column(Text))
    model: str | None = Field(default=None, max_length=300)
    adapter: str | None = Field(default=None, max_length=300)
    prompt: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    completion: str | None = Field(default=None, sa_column=Column(Text))
    token_ids: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    usage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    latency_ms: float | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class EffectStatus(StrEnum):
    pending = "pending"
    done = "done"


class Effect(SQLModel, table=True):
    """The effects ledger: one row per side-effecting tool call, written before the effect."""

    __tablename__ = "effects"
    __table_args__ = (
        UniqueConstraint("run_id", "node", "call_index", name="uq_effects_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    node: str = Field(max_length=200)
    call_index: int
    tool: str = Field(max_length=200)
    status: EffectStatus = Field(default=EffectStatus.pending, max_length=16)
    request: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    response: Any | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}:{self.node}:{self.call_index}"
