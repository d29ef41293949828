"""Decisions on runs: approve, reject, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from api.deps import ApproverDep, Principal, SubmitterDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import Decision, RunOut
from worker.runs import cancel_run, queue_decision

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERROR_RESPONSES)

DecisionBody = Annotated[Decision, Body(default_factory=Decision)]


def _decide(run_id: str, principal: Principal, body: Decision, approved: bool) -> RunOut:
    run = queue_decision(
        run_id,
        tenant_id=principal.tenant_id,
        approved=approved,
        # Who decided is the key's principal, never what the body claims.
        by=principal.name,
        comment=body.comment,
    )
    return RunOut.of(run)


@router.post(
    "/{run_id}/approve",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="approveRun",
    responses={**errors(404, 409), **BODY_ERRORS},
)
def approve(run_id: str, principal: ApproverDep, body: DecisionBody) -> RunOut:
    """Approve the step the run waits on; a worker carries the run on (recorded in the trace)."""
    return _decide(run_id, principal, body, approved=True)


@router.post(
    "/{run_id}/reject",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="rejectRun",
    responses={**errors(404, 409), **BODY_ERRORS},
)
def reject(run_id: str, principal: ApproverDep, body: DecisionBody) -> RunOut:
    """Reject the step the run waits on; the run takes the step's `on_reject` path."""
    return _decide(run_id, principal, body, approved=False)


@router.post(
    "/{run_id}/cancel", response_model=RunOut, operation_id="cancelRun", responses=errors(404, 409)
)
def cancel(run_id: str, principal: SubmitterDep) -> RunOut:
    """Cancel an unfinished run; a worker executing it stops after its current step."""
    return RunOut.of(cancel_run(run_id, tenant_id=principal.tenant_id, by=principal.name))
