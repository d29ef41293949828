"""Console pages of runs: the search list and one run with its timeline."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from agents.runner import get_run
from agents.trace import load_trace
from api.console.render import page
from api.console.session import UserDep
from api.console.timeline import timeline
from api.deps import SessionDep
from api.routes import runs as runs_api
from api.routes.labels import list_labels
from api.schemas import RunOut, StepOut
from forgeyard.models import RunStatus

router = APIRouter()

PAGE_SIZE = 50


def _status(value: str) -> RunStatus | None:
    try:
        return RunStatus(value) if value else None
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise HTTPException(422, f"status: `{value}` is not one of {known}") from None


@router.get("/runs")
def runs_page(
    request: Request,
    user: UserDep,
    db: SessionDep,
    run_status: Annotated[str, Query(alias="status", max_length=32)] = "",
    workflow: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """The tenant's runs, newest first, searched with the JSON API's own filters."""
    # A form sends its empty fields as "": they mean "any", not a value to match.
    found = runs_api.list_runs(
        user.principal,
        db,
        run_status=_status(run_status),
        workflow=workflow or None,
        cursor=cursor or None,
        limit=PAGE_SIZE,
    )
    query = {"status": run_status, "workflow": workflow}
    return page(
        request,
        "runs.html.jinja",
        session=user,
        runs=found.items,
        next_cursor=found.next_cursor,
        next_query=urlencode(
            {k: v for k, v in {**query, "cursor": found.next_cursor or ""}.items() if v}
        ),
        query=query,
        statuses=[s.value for s in RunStatus],
    )


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, user: UserDep) -> Response:
    """One run: its timeline, each step's details, approval, labels and actions."""
    run = RunOut.of(get_run(run_id, tenant_id=user.tenant_id))  # another tenant's: 404
    steps = [StepOut.of(s) for s in load_trace(run.id)]
    approvals = [s for s in steps if s.kind == "approval" and s.status == "ok" and s.output]
    return page(
        request,
        "run.html.jinja",
        session=user,
        run=run,
        timeline=timeline(steps),
        approvals=approvals,
        labels=list_labels(run.id, user.principal),
    )
