"""GRPO training jobs of a tenant: start one (a training worker runs it), follow it, plot it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import AdminDep, ReaderDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import TrainingJobCreate, TrainingJobDetail, TrainingJobOut, TrainingMetricOut
from training import jobs
from training.config import GRPOJobConfig
from training.report import plot_png
from worker import training as training_worker

router = APIRouter(prefix="/v1/training-jobs", tags=["training"], responses=ERROR_RESPONSES)


@router.post(
    "",
    response_model=TrainingJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="createTrainingJob",
    responses={**errors(404, 409), **BODY_ERRORS},
)
def create_training_job(
    body: TrainingJobCreate,  # type: ignore[valid-type]
    principal: AdminDep,
    response: Response,
) -> TrainingJobOut:
    """Start a GRPO job on an approved reward model; a training worker runs it."""
    values: dict[str, Any] = body.model_dump()  # type: ignore[attr-defined]
    config = GRPOJobConfig.from_dict({**values, "tenant": principal.tenant_id})
    job = jobs.create_job(config, tenant_id=principal.tenant_id)
    # Recorded first: an unreachable broker leaves it queued for the sweeper, not lost.
    training_worker.enqueue(job.id)
    out = TrainingJobOut.of(job)
    response.headers["Location"] = out.links["self"]
    return out


@router.get(
    "", response_model=list[TrainingJobOut], operation_id="listTrainingJobs", responses=errors(422)
)
def list_training_jobs(principal: ReaderDep, limit: int = 100) -> list[TrainingJobOut]:
    """This tenant's training jobs, newest first."""
    found = jobs.list_jobs(tenant_id=principal.tenant_id, limit=max(1, min(limit, 500)))
    return [TrainingJobOut.of(j) for j in found]


@router.get(
    "/{job_id}",
    response_model=TrainingJobDetail,
    operation_id="getTrainingJob",
    responses=errors(404),
)
def read_training_job(job_id: str, principal: ReaderDep) -> TrainingJobDetail:
    """A job: status, step of total, message, error, adapter and its latest metrics."""
    job = jobs.get_job(job_id, tenant_id=principal.tenant_id)
    rows = jobs.job_metrics(job.id)
    latest = TrainingMetricOut.of(rows[-1]) if rows else None
    return TrainingJobDetail(**TrainingJobOut.of(job).model_dump(), latest_metrics=latest)


@router.get(
    "/{job_id}/metrics",
    response_model=list[TrainingMetricOut],
    operation_id="listTrainingMetrics",
    responses=errors(404),
)
def read_training_metrics(job_id: str, principal: ReaderDep) -> list[TrainingMetricOut]:
    """Every logged step's metrics, in step order."""
    job = jobs.get_job(job_id, tenant_id=principal.tenant_id)
    return [TrainingMetricOut.of(r) for r in jobs.job_metrics(job.id)]


@router.get(
    "/{job_id}/plot.png",
    response_class=Response,
    operation_id="getTrainingPlot",
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The metrics plot.",
        },
        **errors(404, 409),
    },
)
def read_training_plot(job_id: str, principal: ReaderDep) -> Response:
    """The metrics against step as a PNG (drawn from the stored metrics, also while running)."""
    job = jobs.get_job(job_id, tenant_id=principal.tenant_id)
    rows = jobs.job_metrics(job.id)
    if not rows:
        why = f": {job.error}" if job.error else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Training job `{job_id}` is {job.status.value} and has logged no step yet{why}; "
            "a plot follows its first step.",
        )
    title = f"{job.workflow}.{job.node} — training job {job.id}"
    return Response(plot_png(rows, title=title), media_type="image/png")
