"""Request and response bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from api import examples as ex
from api.examples import example
from forgeyard.models import DeliveryStatus, Run, RunKind, RunStatus, Step, WebhookDelivery
from forgeyard.records.rewards import (
    EvaluationRecord,
    EvaluationStatus,
    LabelKind,
    LabelRecord,
    RewardModelRecord,
    RewardModelStatus,
)
from forgeyard.records.training import (
    AdapterRecord,
    AdapterStatus,
    PromotionRecord,
    PromotionStatus,
    TrainingJobRecord,
    TrainingJobStatus,
    TrainingMetricRecord,
)
from rewards.runs import RunFilter
from training.config import GRPOJobConfig


@example(ex.PROBLEM)
class Problem(BaseModel):
    """One thing wrong with a request; ``line`` for workflow specs."""

    field: str
    message: str
    line: int | None = None


@example(ex.ERROR)
class ErrorOut(BaseModel):
    """Every 4xx answer: what is wrong and, where it helps, each problem."""

    detail: str
    problems: list[Problem] = Field(default_factory=list)


@example(ex.PROMOTION_REFUSED)
class PromotionRefusedOut(ErrorOut):
    """409 from a promotion the gate refused: its decision with every figure."""

    gate: dict[str, Any]


@example(ex.RUN_CREATE)
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
        description="Called (POST, signed the Standard Webhooks way) when the run waits for "
        "an approval (`run.waiting_approval`) and when it finishes (`run.finished`); "
        "retried with backoff.",
    )


@example(ex.DECISION)
class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        deprecated=True,
        description="Ignored, kept so older clients' bodies stay valid: the approver recorded "
        "is the API key's principal (its name, or `key:<id>`), never a name the caller claims.",
    )
    comment: str | None = Field(default=None, max_length=4000)


@example(ex.WEBHOOK_DELIVERY)
class WebhookDeliveryOut(BaseModel):
    """One webhook event of a run and how its delivery went."""

    id: str = Field(description="The `webhook-id` header: the same on every try and redelivery.")
    event: str = Field(description="`run.waiting_approval` or `run.finished`.")
    status: DeliveryStatus = Field(
        description="`pending` (tries going on), `delivered`, or `failed` (tries used up)."
    )
    attempts: int = Field(description="Tries since it was queued or last redelivered.")
    redeliveries: int
    last_status_code: int | None = Field(description="The receiver's HTTP status at the last try.")
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any] = Field(description="The body sent (signed afresh at each try).")

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> WebhookDeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)


@example(ex.RUN)
class RunOut(BaseModel):
    id: str
    workflow: str
    workflow_version: str
    spec_hash: str
    status: RunStatus
    idempotency_key: str | None = Field(description="The `Idempotency-Key` it was submitted with.")
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
    kind: RunKind = Field(description="`run`, or the replay or fork of `parent_run_id`.")
    parent_run_id: str | None = Field(description="The run this one replays or forks.")
    replay: dict[str, Any] | None = Field(
        description="How the replay or fork was made and, once finished, its result: "
        "`identical`, or `diverged` with the first differing step."
    )
    links: dict[str, str]
    webhooks: list[WebhookDeliveryOut] | None = Field(
        default=None,
        description="Each webhook event and its delivery status; on one run's answers "
        "(not in lists, where it is null).",
    )

    @classmethod
    def of(cls, run: Run, webhooks: list[WebhookDelivery] | None = None) -> RunOut:
        end = run.finished_at or run.updated_at
        duration = (end - run.started_at).total_seconds() if run.started_at else None
        base = f"/v1/runs/{run.id}"
        links = {
            "self": base,
            "steps": f"{base}/steps",
            "events": f"{base}/events",
            "cancel": f"{base}/cancel",
        }
        if run.status == RunStatus.waiting_approval:
            links |= {"approve": f"{base}/approve", "reject": f"{base}/reject"}
        links |= {"replay": f"{base}/replay", "fork": f"{base}/fork"}
        links["lineage"] = f"{base}/lineage"
        if run.parent_run_id:
            links["parent"] = f"/v1/runs/{run.parent_run_id}"
        links["wait"] = f"{base}/wait"
        if run.webhook_url:
            links["webhooks"] = f"{base}/webhooks"
        fields = set(cls.model_fields) - {"duration_seconds", "links", "webhooks"}
        return cls(
            **{name: getattr(run, name) for name in fields},
            duration_seconds=duration,
            links=links,
            webhooks=None if webhooks is None else [WebhookDeliveryOut.of(w) for w in webhooks],
        )


class RunSearchParams(BaseModel):
    """The filters of `GET /v1/runs`; every one given must hold. Unknown names are a 422."""

    model_config = ConfigDict(extra="forbid")

    status: list[RunStatus] = Field(
        default_factory=list, description="Repeat for any of several statuses."
    )
    workflow: str | None = Field(default=None, max_length=200)
    created_after: datetime | None = Field(
        default=None, description="Created at or after (ISO 8601; no offset: UTC)."
    )
    created_before: datetime | None = Field(default=None, description="Created before.")
    finished_after: datetime | None = Field(default=None, description="Finished at or after.")
    finished_before: datetime | None = Field(default=None, description="Finished before.")
    idempotency_key: str | None = Field(
        default=None, max_length=200, description="The `Idempotency-Key` it was submitted with."
    )
    adapter: str | None = Field(
        default=None, max_length=300, description="A step was answered by this LoRA adapter."
    )
    model: str | None = Field(
        default=None, max_length=300, description="A step was answered by this model."
    )
    node: str | None = Field(
        default=None, max_length=200, description="With `adapter`/`model`: at this node."
    )
    reached: str | None = Field(
        default=None, max_length=200, description="A step of this node was recorded."
    )
    where: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list,
        max_length=20,
        description="`input.PATH=VALUE` or `output.PATH=VALUE` (repeatable), e.g. "
        "`input.request.origin=CNSHA`; digits in the path index arrays. The value matches "
        "a JSON string equal to it, a number of that value, `true`/`false`/`null`.",
    )
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=200)


@example(ex.RUN_PAGE)
class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


@example(ex.STEP)
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


# -- run diffs (agents/diff.py's RunDiff.to_json) -------------------------------------
class ChangeOut(BaseModel):
    path: str = Field(description="Dotted, as in search: `output.carrier`, `prompt.1.content`.")
    change: Literal["changed", "added", "removed"] = Field(
        description="`added`: only in b; `removed`: only in a."
    )
    a: Any = None
    b: Any = None


class DiffSideOut(BaseModel):
    id: str
    workflow: str
    workflow_version: str
    spec_hash: str
    status: RunStatus
    error: str | None


class StepSideOut(BaseModel):
    seq: int
    attempt: int
    status: str


class StepDiffOut(BaseModel):
    index: int = Field(description="Position in the aligned list of visits.")
    node: str
    visit: int = Field(description="Which visit of the node (0: the first).")
    same: bool
    fields: list[str] = Field(description="What differs; `step`: only one run made this visit.")
    a: StepSideOut | None = Field(description="The final attempt in run a; null: none.")
    b: StepSideOut | None
    attempts: dict[str, int] = Field(description="Attempts of this visit in each run.")
    changes: list[ChangeOut]


class DivergenceOut(BaseModel):
    index: int
    node: str
    visit: int
    fields: list[str]
    summary: str


@example(ex.RUN_DIFF)
class RunDiffOut(BaseModel):
    """Two runs compared: steps aligned by node and visit, the first divergence."""

    a: DiffSideOut
    b: DiffSideOut
    same_workflow: bool = Field(description="False: runs of different workflows, still compared.")
    same_spec: bool = Field(description="Both pinned to the same spec (content hash).")
    identical: bool = Field(description="Same steps, final output and status.")
    first_divergence: DivergenceOut | None
    input: list[ChangeOut] = Field(description="How the runs' inputs differ.")
    output: list[ChangeOut] = Field(description="How the runs' final outputs differ.")
    steps: list[StepDiffOut]


@example(ex.WORKFLOW_REGISTER)
class WorkflowRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, description="The workflow spec, as YAML text.")


class WorkflowVersion(BaseModel):
    version: str
    hash: str
    source: str = Field(description="`registered` over the API, or `catalog` (files on disk).")
    created_at: datetime | None = None


@example(ex.WORKFLOW_SUMMARY)
class WorkflowSummary(BaseModel):
    name: str
    version: str
    description: str | None
    source: str


@example(ex.WORKFLOW_DETAIL)
class WorkflowDetail(WorkflowSummary):
    hash: str
    input_schema: dict[str, Any]
    spec: str = Field(description="The YAML text of this version.")
    versions: list[WorkflowVersion]


class Check(BaseModel):
    ok: bool
    required: bool
    detail: str


@example(ex.READINESS)
class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]


# -- reward models ----------------------------------------------------------------
@example(ex.REWARD_MODEL_REGISTER)
class RewardModelRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, description="The reward-model spec, as YAML text.")


@example(ex.REWARD_MODEL)
class RewardModelOut(BaseModel):
    id: str
    name: str
    version: str = Field(description="The spec's own label; `hash` is the real version id.")
    hash: str
    workflow: str
    status: RewardModelStatus = Field(
        description="`approved` while its latest evaluation met the spec's thresholds."
    )
    latest_evaluation_id: str | None
    created_at: datetime
    approved_at: datetime | None

    @classmethod
    def of(cls, record: RewardModelRecord) -> RewardModelOut:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


@example(ex.REWARD_MODEL_DETAIL)
class RewardModelDetail(RewardModelOut):
    spec: str = Field(description="The YAML text of this version.")

    @classmethod
    def of(cls, record: RewardModelRecord) -> RewardModelDetail:
        fields = set(cls.model_fields) - {"spec"}
        return cls(**{name: getattr(record, name) for name in fields}, spec=record.source)


@example(ex.EVALUATION_CREATE)
class EvaluationCreate(BaseModel):
    """Evaluate on a labelled dataset (JSONL text) or on this tenant's recorded runs."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = Field(
        default=None,
        min_length=1,
        description="A labelled dataset as JSONL text (see docs/rewards.md §3).",
    )
    runs: str | None = Field(
        default=None,
        description="A filter of recorded runs: `workflow=…,status=…,since=ISO-date,limit=…` "
        "(the workflow defaults to the reward model's; empty: every finished run of it).",
    )
    tasks: str | None = Field(
        default=None,
        min_length=1,
        description='With `runs`: JSONL text of `{"input": …, "expected": …}` lines '
        "giving the runs their ground truth.",
    )

    @field_validator("runs")
    @classmethod
    def _run_filter(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                RunFilter.parse(value)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"invalid run filter: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EvaluationCreate:
        if (self.dataset is None) == (self.runs is None):
            raise ValueError("give exactly one of `dataset` (JSONL text) or `runs` (a filter)")
        if self.tasks is not None and self.runs is None:
            raise ValueError("`tasks` gives recorded runs their ground truth; use it with `runs`")
        return self


@example(ex.EVALUATION)
class EvaluationOut(BaseModel):
    id: str
    reward_model_id: str
    status: EvaluationStatus
    progress: float = Field(description="Fraction done, 0 to 1.")
    message: str | None = Field(description="What the evaluation is doing now.")
    source: dict[str, Any] = Field(
        description="What is evaluated: `runs` (and whether `tasks` were given) or a dataset."
    )
    passed: bool | None = Field(description="Whether the report met the spec's thresholds.")
    error: str | None
    report: dict[str, Any] | None = Field(
        description="The report (docs/rewards.md §5) once succeeded; "
        "`?format=html` gives it as a page."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]

    @classmethod
    def of(cls, record: EvaluationRecord) -> EvaluationOut:
        request = record.request
        # The dataset text can be large; the request is summarised, not echoed.
        source: dict[str, Any] = (
            {
                "runs": request["runs"],
                "tasks": bool(request.get("tasks") or request.get("tasks_text")),
            }
            if "runs" in request
            else {"dataset": "request" if "dataset_text" in request else "file"}
        )
        base = f"/v1/reward-models/{record.reward_model_id}/evaluations/{record.id}"
        fields = set(cls.model_fields) - {"source", "links"}
        return cls(
            **{name: getattr(record, name) for name in fields},
            source=source,
            links={"self": base, "html": f"{base}?format=html"},
        )


# -- labels -------------------------------------------------------------------------
@example(ex.LABEL_CREATE)
class LabelCreate(BaseModel):
    """A score of this run, or a preference for it over another run of the same task."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(default=None, ge=0, le=1, description="A score in [0, 1].")
    preferred_over: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Id of another run of the same workflow and input that this one beats.",
    )
    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Who labels; default: the API key's id.",
    )
    note: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _one_judgement(self) -> LabelCreate:
        if (self.score is None) == (self.preferred_over is None):
            raise ValueError("give exactly one of `score` or `preferred_over`")
        return self


@example(ex.LABEL)
class LabelOut(BaseModel):
    id: int
    kind: LabelKind
    workflow: str | None
    run_id: str | None = Field(description="The run scored, or the preferred run.")
    score: float | None
    rejected_run_id: str | None = Field(description="For a preference: the run it beats.")
    by: str
    note: str | None
    created_at: datetime

    @classmethod
    def of(cls, record: LabelRecord) -> LabelOut:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


# -- training jobs --------------------------------------------------------------------
# Set by the server, not the caller: the tenant is the API key's, and an API
# caller must not choose where on the server files are written.
_SERVER_SIDE_FIELDS = ("tenant", "output_dir")


def _training_job_create() -> type[BaseModel]:
    """The request body: every :class:`GRPOJobConfig` field but the server's, with its help."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(GRPOJobConfig):
        if f.name in _SERVER_SIDE_FIELDS:
            continue
        annotation = {"str": str, "int": int, "float": float, "bool | None": bool | None}[
            str(f.type)
        ]
        fields[f.name] = (annotation, Field(default=f.default, description=f.metadata["help"]))
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        "TrainingJobCreate",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="A GRPO training job; unset fields take their defaults. "
        "The reward model must be approved for this tenant and workflow.",
        **fields,
    )
    return example(ex.TRAINING_JOB_CREATE)(model)


TrainingJobCreate = _training_job_create()


@example(ex.TRAINING_METRIC)
class TrainingMetricOut(BaseModel):
    step: int
    reward_mean: float | None = Field(description="Mean reward of the step's completions.")
    reward_std: float | None = Field(description="Their standard deviation.")
    frac_zero_std: float | None = Field(
        description="Share of groups whose completions all scored the same (no signal)."
    )
    kl: float | None = Field(description="KL divergence to the base model.")
    loss: float | None
    values: dict[str, Any] = Field(description="Everything else TRL logged at this step.")
    created_at: datetime

    @classmethod
    def of(cls, record: TrainingMetricRecord) -> TrainingMetricOut:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


@example(ex.TRAINING_JOB)
class TrainingJobOut(BaseModel):
    id: str
    workflow: str
    node: str
    reward_model_id: str
    base_model: str
    status: TrainingJobStatus
    step: int
    total_steps: int
    message: str | None = Field(description="What the job is doing now.")
    error: str | None
    adapter_id: str | None = Field(description="The candidate adapter, once succeeded.")
    attempts: int = Field(description="Times a worker started it (a dead worker's job resumes).")
    config: dict[str, Any] = Field(description="The full configuration, defaults filled in.")
    summary: dict[str, Any] | None = Field(description="Final metrics, once succeeded.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]

    @classmethod
    def of(cls, record: TrainingJobRecord) -> TrainingJobOut:
        base = f"/v1/training-jobs/{record.id}"
        links = {"self": base, "metrics": f"{base}/metrics", "plot": f"{base}/plot.png"}
        fields = set(cls.model_fields) - {"links"}
        return cls(**{name: getattr(record, name) for name in fields}, links=links)


@example(ex.TRAINING_JOB_DETAIL)
class TrainingJobDetail(TrainingJobOut):
    latest_metrics: TrainingMetricOut | None = Field(description="The last step logged.")


@example(ex.ADAPTER)
class AdapterOut(BaseModel):
    id: str
    workflow: str
    node: str
    base_model: str
    reward_model_id: str
    training_job_id: str | None
    rank: int
    status: AdapterStatus = Field(
        description="`candidate` after training, `active` while it answers the node in this "
        "tenant's runs, `retired` when replaced or rolled back."
    )
    served_name: str = Field(description="The model name the server answers it under.")
    metrics: dict[str, Any]
    gate: dict[str, Any] | None = Field(
        description="The promotion gate's last decision: `passed`, `reason`, mean rewards, "
        "`mean_difference`, its 95% interval `ci_low`/`ci_high`, hack-probe pass rates."
    )
    previous_adapter_id: str | None = Field(description="What rollback returns to.")
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, record: AdapterRecord) -> AdapterOut:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


@example(ex.PROMOTION)
class PromotionOut(BaseModel):
    """A promotion: a worker runs the gate; poll ``links.self`` until it is finished."""

    id: str
    adapter_id: str
    status: PromotionStatus = Field(
        description="`queued`, `running` (a worker runs the gate), `succeeded` (the adapter "
        "is active) or `failed` (see `error`)."
    )
    message: str | None = Field(description="What the promotion is doing now.")
    gate: dict[str, Any] | None = Field(
        description="The gate's decision once made (as on the adapter), also when it refused."
    )
    error: str | None = Field(description="Why it failed: the gate's reason or another error.")
    error_field: str | None = Field(
        description="What failed: `gate` (refused; figures in `gate`), `status`, `rank`, "
        "`node`, `worker` (its workers died), or the model server's error."
    )
    refused: bool = Field(description="Whether the gate refused the candidate.")
    attempts: int = Field(description="Times a worker started it (a dead worker's is re-sent).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: dict[str, str]

    @classmethod
    def of(cls, record: PromotionRecord) -> PromotionOut:
        links = {
            "self": f"/v1/promotions/{record.id}",
            "adapter": f"/v1/adapters/{record.adapter_id}",
        }
        fields = set(cls.model_fields) - {"links", "refused"}
        return cls(
            **{name: getattr(record, name) for name in fields},
            refused=record.error_field == "gate",
            links=links,
        )


@example(ex.ROLLBACK)
class RollbackOut(BaseModel):
    retired: AdapterOut
    active: AdapterOut | None = Field(
        description="The adapter answering the node again; null: the base model does."
    )


@example(ex.REPLAY_CREATE)
class ReplayCreate(BaseModel):
    """How to replay a finished run."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["recorded", "what_if"] = Field(
        default="recorded",
        description="`recorded`: every answer from the recording (no model call, no side "
        "effect). `what_if`: llm nodes answered live, by `adapter` or `model` when given.",
    )
    adapter: str | None = Field(
        default=None, min_length=1, max_length=300, description="A served LoRA adapter name."
    )
    model: str | None = Field(
        default=None, min_length=1, max_length=300, description="A served model name."
    )


class StepRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=1, max_length=200)
    visit: int = Field(default=0, ge=0)


@example(ex.FORK_CREATE)
class ForkCreate(BaseModel):
    """Where to fork a run and how to change its state there."""

    model_config = ConfigDict(extra="forbid")

    at_step: int | StepRef = Field(
        description="The step's `seq` in the trace, or `{node, visit}`; the fork starts "
        "from the checkpoint after it."
    )
    patch: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=100,
        description="RFC 6902 JSON-patch operations on the state, e.g. "
        '`[{"op": "replace", "path": "/choice/quote_id", "value": "Q2"}]`.',
    )
    live_effects: bool = Field(
        default=False,
        description="Side effects for real, each after a person's approval; "
        "otherwise they happen in a sandbox database.",
    )


@example(ex.BULK_REPLAY_CREATE)
class BulkReplayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last: int = Field(ge=1, le=500, description="Replay this many of the newest finished runs.")


@example(ex.BULK_REPLAY)
class BulkReplayOut(BaseModel):
    """How many of a workflow's recent runs replayed identically (recorded mode)."""

    workflow: str
    replayed: int
    identical: int
    diverged: int
    identical_replays: list[str] = Field(description="Ids of the identical replays.")
    diverged_replays: list[dict[str, Any]] = Field(
        description="Each diverged replay: `replay_id`, `source_id`, `divergence`, `message`."
    )


@example(ex.LINEAGE)
class LineageOut(BaseModel):
    """Where a run comes from and what was made of it."""

    ancestors: list[RunOut] = Field(description="Its source, that one's source, …; nearest first.")
    children: list[RunOut] = Field(description="Its replays and forks, oldest first.")
