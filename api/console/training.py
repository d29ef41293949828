"""Console pages of training: jobs (status, metrics plot) and adapters (gate, promote, rollback)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import RedirectResponse, Response

from api.console.render import PREFIX, page
from api.console.session import UserDep, require_csrf
from api.routes import adapters as adapters_api
from api.routes import training_jobs as jobs_api

router = APIRouter()


@router.get("/training-jobs")
def jobs_page(request: Request, user: UserDep) -> Response:
    """This tenant's training jobs, newest first."""
    jobs = jobs_api.list_training_jobs(user.need("runs:read"), limit=100)
    return page(request, "training_jobs.html.jinja", session=user, jobs=jobs)


@router.get("/training-jobs/{job_id}")
def job_page(job_id: str, request: Request, user: UserDep) -> Response:
    """A job: status, progress, its latest metrics and the metrics plot."""
    job = jobs_api.read_training_job(job_id, user.need("runs:read"))
    return page(request, "training_job.html.jinja", session=user, job=job)


@router.get("/training-jobs/{job_id}/plot.png")
def job_plot(job_id: str, user: UserDep) -> Response:
    """The API's own plot of the job's metrics (the console's cookie instead of a bearer key)."""
    return jobs_api.read_training_plot(job_id, user.need("runs:read"))


@router.get("/adapters")
def adapters_page(request: Request, user: UserDep) -> Response:
    """This tenant's adapters: status, the gate's figures, promote and rollback."""
    adapters = adapters_api.list_adapters(user.need("runs:read"))
    return page(request, "adapters.html.jinja", session=user, adapters=adapters)


def _back(message: str) -> Response:
    return RedirectResponse(f"{PREFIX}/adapters?notice={quote(message)}", status.HTTP_303_SEE_OTHER)


@router.post("/adapters/{adapter_id}/promote", dependencies=[Depends(require_csrf)])
def promote(adapter_id: str, user: UserDep) -> Response:
    """Queue the promotion gate (a worker runs it); the adapter becomes active only if it passes."""
    promotion = adapters_api.start_promotion(adapter_id, user.need("admin").tenant_id)
    return _back(
        f"Promotion {promotion.id} of adapter {adapter_id} is {promotion.status.value}: a worker "
        "runs the gate; the adapter becomes active only if it passes (reload to see)."
    )


@router.post("/adapters/{adapter_id}/rollback", dependencies=[Depends(require_csrf)])
def rollback(adapter_id: str, user: UserDep) -> Response:
    """Retire the active adapter; the one it replaced (or the base model) answers again."""
    result = adapters_api.rollback_adapter(adapter_id, user.need("admin"))
    now = f"adapter {result.active.id}" if result.active else "the base model"
    return _back(f"Adapter {result.retired.id} retired; {now} answers again.")
