"""Human labels of runs: a score, or a preference over another run of the same task."""

from __future__ import annotations

from fastapi import APIRouter, status

from agents.runner import get_run
from api.deps import LabellerDep, ReaderDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import LabelCreate, LabelOut
from rewards import labels

router = APIRouter(prefix="/v1/runs/{run_id}/labels", tags=["labels"], responses=ERROR_RESPONSES)


@router.post(
    "",
    response_model=LabelOut,
    status_code=status.HTTP_201_CREATED,
    operation_id="labelRun",
    responses={**errors(404), **BODY_ERRORS},
)
def create_label(run_id: str, body: LabelCreate, principal: LabellerDep) -> LabelOut:
    """Label a run: a score in [0, 1], or that it beats another run of the same task."""
    get_run(run_id, tenant_id=principal.tenant_id)  # another tenant's run: 404
    by = body.by or principal.name
    if body.score is not None:
        record = labels.add_score(
            score=body.score, by=by, run_id=run_id, tenant_id=principal.tenant_id, note=body.note
        )
    else:
        assert body.preferred_over is not None
        record = labels.add_preference(
            chosen=run_id,
            rejected=body.preferred_over,
            by=by,
            tenant_id=principal.tenant_id,
            note=body.note,
        )
    return LabelOut.of(record)


@router.get("", response_model=list[LabelOut], operation_id="listRunLabels", responses=errors(404))
def list_labels(run_id: str, principal: ReaderDep) -> list[LabelOut]:
    """The run's labels: its scores and the preferences it is part of, oldest first."""
    run = get_run(run_id, tenant_id=principal.tenant_id)
    return [
        LabelOut.of(label)
        for label in labels.list_labels(tenant_id=principal.tenant_id, workflow=run.workflow)
        if run_id in (label.run_id, label.rejected_run_id)
    ]
