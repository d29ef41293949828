"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func
from sqlmodel import select

from api.deps import SessionDep
from api.errors import errors
from api.metrics import RUNS
from forgeyard.models import Run, RunStatus
from forgeyard.settings import get_settings
from forgeyard.telemetry.metrics import scrape_registry

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    operation_id="getMetrics",
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"example": 'forgeyard_runs{status="queued"} 0.0\n'}}
        },
        **errors(503),
    },
)
def metrics(session: SessionDep) -> Response:
    """Metrics in the Prometheus text format."""
    counts = dict(session.exec(select(Run.status, func.count()).group_by(Run.status)).all())
    for run_status in RunStatus:
        RUNS.labels(run_status.value).set(counts.get(run_status, 0))
    # One process's values, or every API process's in multiprocess mode.
    registry = scrape_registry(get_settings())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
