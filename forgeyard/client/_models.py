"""What the API answers, as pydantic models (from its OpenAPI document).

Models accept fields they do not know, so a newer server does not break an
older client.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


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


class Problem(_Model):
    """One thing wrong with a request: the field and what is wrong (``line`` for specs)."""

    field: str
    message: str
    line: int | None = None


class WebhookDelivery(_Model):
    """One webhook event of a run and how its delivery went (``GET /v1/runs/{id}/webhooks``)."""

    id: str
    event: str
    status: str
    attempts: int
    redeliveries: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)


class Run(_Model):
    """A run as the API reports it (``RunOut``)."""

    id: str
    workflow: str
    workflow_version: str
    spec_hash: str
    status: RunStatus
    idempotency_key: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: str | None = None
    pending_approval: dict[str, Any] | None = None
    webhook_url: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    duration_seconds: float | None = None
    kind: str = "run"
    parent_run_id: str | None = None
    replay: dict[str, Any] | None = None
    links: dict[str, str] = Field(default_factory=dict)
    webhooks: list[WebhookDelivery] | None = None

    @property
    def settled(self) -> bool:
        """Finished, or waiting for a person: it will not move on by itself."""
        return self.status.finished or self.status == RunStatus.waiting_approval


class RunPage(_Model):
    """One page of a run search; pass ``next_cursor`` on for the next."""

    items: list[Run]
    next_cursor: str | None = None


class Step(_Model):
    """One recorded step of a run's trace (``StepOut``)."""

    seq: int
    node: str
    kind: str
    visit: int
    attempt: int
    status: str
    input: Any = None
    output: Any = None
    error: str | None = None
    model: str | None = None
    adapter: str | None = None


class Event(_Model):
    """One Server-Sent Event of ``GET /v1/runs/{id}/events``.

    ``event`` is ``step`` (``id`` is the step's ``seq``, ``data`` the step),
    ``run`` (``data``: ``{"status": ...}``) or ``unavailable``.
    """

    event: str
    id: str | None = None
    data: Any = None

    @property
    def step(self) -> Step | None:
        return Step.model_validate(self.data) if self.event == "step" else None

    @property
    def status(self) -> RunStatus | None:
        if self.event == "run" and isinstance(self.data, dict):
            return RunStatus(self.data["status"])
        return None

    @classmethod
    def parse(cls, event: str, data: str, event_id: str | None) -> Event:
        try:
            parsed: Any = json.loads(data) if data else None
        except json.JSONDecodeError:
            parsed = data
        return cls(event=event or "message", id=event_id or None, data=parsed)


class WebhookEvent(_Model):
    """A verified webhook call's body: ``type``, ``timestamp``, ``data`` (the run), and its id."""

    id: str = Field(description="The `webhook-id`: the same on every retry of this event.")
    type: str
    timestamp: datetime
    data: dict[str, Any]
