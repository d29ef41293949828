"""Request and response bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from forgeyard.models import Run, RunStatus, Step


class Problem(BaseModel):
    """One thing wrong with a request; ``line`` for workflow specs."""

    field: str
    message: str
    line: int | None = None


class ErrorOut(BaseModel):
    """Every 4xx answer: what is wrong and, where it helps, each problem."""

    detail: str
    problems: list[Problem] = Field(default_factory=list)


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(
        default_factory=dict, description="Checked against the workflow's input schema."
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the workflow's `config` values."
    )
    webhook_url: AnyHttpUrl | None = Field(
        default=None,
        description="Called (POST, HMAC-SHA256 signed) when the run finishes; "
        "retried with backoff.",
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Who decides; default: the API key's id.",
    )
    comment: str | None = Field(default=None, max_length=4000)


class RunOut(BaseModel):
    id: str
    workflow: str
    workflow_version: str
    spec_hash: str
    status: RunStatus
    input: dict[str, Any]
    config: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    pending_approval: dict[str, Any] | None
    webhook_url: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    duration_seconds: float | None = Field(description="From start to finish (or to now).")
    links: dict[str, str]

    @classmethod
    def of(cls, run: Run) -> RunOut:
        end = run.finished_at or run.updated_at
        duration = (end - run.started_at).total_seconds() if run.started_at else None
        base = f"/v1/runs/{run.id}"
        links = {"self": base, "steps": f"{base}/steps", "events": f"{base}/events",
                 "cancel": f"{base}/cancel"}
        if run.status == RunStatus.waiting_approval:
            links |= {"approve": f"{base}/approve", "reject": f"{base}/reject"}
        fields = set(cls.model_fields) - {"duration_seconds", "links"}
        return cls(**{name: getattr(run, name) for name in fields},
                   duration_seconds=duration, links=links)


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class StepOut(BaseModel):
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
    prompt: list[dict[str, Any]] | None = None
    completion: str | None = None
    token_ids: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    latency_ms: float | None = None
    started_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def of(cls, step: Step) -> StepOut:
        # Attribute by attribute: Step's JSON columns hold lists too, which
        # model_dump() would warn about against their dict annotations.
        return cls(**{name: getattr(step, name) for name in cls.model_fields})


class WorkflowRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, description="The workflow spec, as YAML text.")


class WorkflowVersion(BaseModel):
    version: str
    hash: str
    source: str = Field(description="`registered` over the API, or `catalog` (files on disk).")
    created_at: datetime | None = None


class WorkflowSummary(BaseModel):
    name: str
    version: str
    description: str | None
    source: str


class WorkflowDetail(WorkflowSummary):
    hash: str
    input_schema: dict[str, Any]
    spec: str = Field(description="The YAML text of this version.")
    versions: list[WorkflowVersion]


class Check(BaseModel):
    ok: bool
    required: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]
