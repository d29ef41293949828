"""Runs: submit one, list them, show one and its recorded trace."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from sqlalchemy import and_, or_
from sqlmodel import col, select

from agents.runner import get_run
from agents.trace import load_trace
from api import registry, submissions
from api.deps import ReaderDep, SessionDep, SubmitterDep
from api.errors import ERROR_RESPONSES
from api.metrics import RUNS_SUBMITTED
from api.schemas import RunCreate, RunOut, RunPage, StepOut
from forgeyard.models import Run, RunStatus

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)


@router.post(
    "/v1/workflows/{name}/runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED
)
def submit_run(
    name: str,
    body: RunCreate,
    principal: SubmitterDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Same key and body: the same run again. Same key, other body: 409.",
        ),
    ] = None,
) -> RunOut:
    """Start a run of the workflow's newest version; a worker executes it."""
    loaded = registry.resolve(principal.tenant_id, name)
    run, created = submissions.submit(
        principal.tenant_id,
        name,
        loaded,
        body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
    )
    if created:
        RUNS_SUBMITTED.labels(run.workflow).inc()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return RunOut.of(run)


def _encode_cursor(run: Run) -> str:
    raw = json.dumps([run.created_at.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, run_id = json.loads(raw)
        return datetime.fromisoformat(created), str(run_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Invalid cursor: pass `next_cursor` from the previous page unchanged.",
        ) from None


@router.get("/v1/runs", response_model=RunPage)
def list_runs(
    principal: ReaderDep,
    session: SessionDep,
    run_status: Annotated[RunStatus | None, Query(alias="status")] = None,
    workflow: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    """This tenant's runs, newest first, filtered by status and workflow; paginated by cursor."""
    query = select(Run).where(Run.tenant_id == principal.tenant_id)
    if run_status is not None:
        query = query.where(Run.status == run_status)
    if workflow is not None:
        query = query.where(Run.workflow == workflow)
    if cursor is not None:
        created, run_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                col(Run.created_at) < created,
                and_(col(Run.created_at) == created, col(Run.id) < run_id),
            )
        )
    query = query.order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit + 1)
    runs = list(session.exec(query))
    more = len(runs) > limit
    runs = runs[:limit]
    return RunPage(
        items=[RunOut.of(r) for r in runs], next_cursor=_encode_cursor(runs[-1]) if more else None
    )


@router.get("/v1/runs/{run_id}", response_model=RunOut)
def read_run(run_id: str, principal: ReaderDep) -> RunOut:
    """A run: status, output, error, spec hash, timings."""
    return RunOut.of(get_run(run_id, tenant_id=principal.tenant_id))


@router.get("/v1/runs/{run_id}/steps", response_model=list[StepOut])
def read_steps(run_id: str, principal: ReaderDep) -> list[StepOut]:
    """The recorded trace of a run, in order."""
    get_run(run_id, tenant_id=principal.tenant_id)
    return [StepOut.of(s) for s in load_trace(run_id)]
