"""Console pages of runs: the search list and one run with its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from agents.runner import get_run
from agents.search import RunQuery, search_runs
from agents.trace import load_trace
from api.console.render import page
from api.console.session import UserDep
from api.console.timeline import timeline
from api.routes import adapters as adapters_api
from api.routes import replays as replays_api
from api.routes.labels import list_labels
from api.schemas import RunOut, StepOut
from forgeyard.models import RunStatus

router = APIRouter()

PAGE_SIZE = 50


def _moment(field: str, value: str) -> datetime | None:
    # A datetime-local field sends 2026-12-01T20:00 (no offset: UTC, as the API reads it).
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        raise HTTPException(422, f"{field}: `{value}` is not a date and time") from None


@router.get("/runs")
def runs_page(
    request: Request,
    user: UserDep,
    run_status: Annotated[str, Query(alias="status", max_length=32)] = "",
    workflow: Annotated[str, Query(max_length=200)] = "",
    created_after: Annotated[str, Query(max_length=40)] = "",
    created_before: Annotated[str, Query(max_length=40)] = "",
    key: Annotated[str, Query(max_length=200)] = "",
    reached: Annotated[str, Query(max_length=200)] = "",
    where: Annotated[list[str] | None, Query(max_length=20)] = None,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """The tenant's runs, newest first, found by the search the JSON API uses."""
    reader = user.need("runs:read")
    # A form sends its empty fields as "": they mean "any", not a value to match.
    fields = [w.strip() for w in where or [] if w.strip()]
    query = RunQuery.of(
        status=[run_status] if run_status else [],
        workflow=workflow or None,
        created_after=_moment("created_after", created_after),
        created_before=_moment("created_before", created_before),
        idempotency_key=key or None,
        reached=reached or None,
        where=fields,
    )
    found = search_runs(reader.tenant_id, query, cursor=cursor or None, limit=PAGE_SIZE)
    form = {
        "status": run_status,
        "workflow": workflow,
        "created_after": created_after,
        "created_before": created_before,
        "key": key,
        "reached": reached,
    }
    kept = [(k, v) for k, v in form.items() if v] + [("where", w) for w in fields]
    return page(
        request,
        "runs.html.jinja",
        session=user,
        runs=[RunOut.of(r) for r in found.runs],
        next_cursor=found.next_cursor,
        next_query=urlencode([*kept, ("cursor", found.next_cursor or "")]),
        query=form,
        where=fields,
        statuses=[s.value for s in RunStatus],
    )


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, user: UserDep) -> Response:
    """One run: its timeline, each step's details, approval, labels and actions."""
    reader = user.need("runs:read")
    run = RunOut.of(get_run(run_id, tenant_id=reader.tenant_id))  # another tenant's: 404
    steps = [StepOut.of(s) for s in load_trace(run.id)]
    approvals = [s for s in steps if s.kind == "approval" and s.status == "ok" and s.output]
    family = replays_api.read_lineage(run.id, reader)
    return page(
        request,
        "run.html.jinja",
        session=user,
        run=run,
        timeline=timeline(steps),
        approvals=approvals,
        labels=list_labels(run.id, reader),
        ancestors=family.ancestors,
        children=family.children,
        adapters=adapters_api.list_adapters(reader, workflow=run.workflow),
    )
