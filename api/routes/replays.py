"""Replays and forks of runs: each a new run linked to its source; a bulk regression check."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from agents.replay import create_fork, create_replay, lineage, replay_recent
from api import registry
from api.deps import ReaderDep, SubmitterDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import (
    BulkReplayCreate,
    BulkReplayOut,
    ForkCreate,
    LineageOut,
    ReplayCreate,
    RunOut,
)
from forgeyard.models import utcnow
from worker.runs import enqueue

router = APIRouter(tags=["replays"], responses=ERROR_RESPONSES)


def _accepted(run_id: str, response: Response) -> None:
    enqueue(run_id)
    response.headers["Location"] = f"/v1/runs/{run_id}"


@router.post(
    "/v1/runs/{run_id}/replay",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="replayRun",
    responses={**errors(404, 409), **BODY_ERRORS},
)
def replay(run_id: str, body: ReplayCreate, principal: SubmitterDep, response: Response) -> RunOut:
    """Replay a finished run as a new run (recorded, or what-if with a model); a worker runs it."""
    run = create_replay(
        run_id,
        mode=body.mode,
        adapter=body.adapter,
        model=body.model,
        tenant_id=principal.tenant_id,
        fields={"enqueued_at": utcnow()},
    )
    _accepted(run.id, response)
    return RunOut.of(run)


@router.post(
    "/v1/runs/{run_id}/fork",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="forkRun",
    responses={**errors(404, 409), **BODY_ERRORS},
)
def fork(run_id: str, body: ForkCreate, principal: SubmitterDep, response: Response) -> RunOut:
    """Fork a run after one of its steps with a patched state, as a new run a worker continues."""
    at_step = body.at_step if isinstance(body.at_step, int) else body.at_step.model_dump()
    run = create_fork(
        run_id,
        at_step=at_step,
        patch=body.patch,
        live_effects=body.live_effects,
        tenant_id=principal.tenant_id,
        fields={"enqueued_at": utcnow()},
    )
    _accepted(run.id, response)
    return RunOut.of(run)


@router.get(
    "/v1/runs/{run_id}/lineage",
    response_model=LineageOut,
    operation_id="getRunLineage",
    responses=errors(404),
)
def read_lineage(run_id: str, principal: ReaderDep) -> LineageOut:
    """The runs this one replays or forks (nearest first), and its own replays and forks."""
    ancestors, children = lineage(run_id, tenant_id=principal.tenant_id)
    return LineageOut(
        ancestors=[RunOut.of(r) for r in ancestors], children=[RunOut.of(r) for r in children]
    )


@router.post(
    "/v1/workflows/{name}/replays",
    response_model=BulkReplayOut,
    operation_id="replayWorkflowRuns",
    responses={**errors(404), **BODY_ERRORS},
)
def replay_workflow(name: str, body: BulkReplayCreate, principal: SubmitterDep) -> BulkReplayOut:
    """Replay (recorded) the newest finished runs of a workflow, here and now; count identical."""
    registry.resolve(principal.tenant_id, name)  # an unknown workflow is a 404, not "0 replayed"
    summary = replay_recent(name, last=body.last, tenant_id=principal.tenant_id)
    return BulkReplayOut(**summary.to_json())
