"""The approvals inbox: runs waiting for a person, decided through the approve API's path."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from agents.search import RunQuery, search_runs
from api.console.render import PREFIX, page
from api.console.session import UserDep, require_csrf
from api.schemas import RunOut
from forgeyard.models import RunStatus
from worker.runs import queue_decision

router = APIRouter()


@router.get("/approvals")
def inbox(
    request: Request,
    user: UserDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Runs of this tenant waiting for an approval, newest first, each with its question."""
    reader = user.need("runs:read")
    query = RunQuery.of(status=[RunStatus.waiting_approval])
    found = search_runs(reader.tenant_id, query, cursor=cursor or None, limit=50)
    return page(
        request,
        "approvals.html.jinja",
        session=user,
        runs=[RunOut.of(r) for r in found.runs],
        next_cursor=found.next_cursor,
    )


@router.post("/runs/{run_id}/decision", dependencies=[Depends(require_csrf)])
def decide(
    run_id: str,
    user: UserDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
    comment: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[Literal["run", "approvals"], Form()] = "run",
) -> Response:
    """Approve or reject the step the run waits on; a worker carries the run on."""
    approver = user.need("runs:approve")
    queue_decision(
        run_id,
        tenant_id=approver.tenant_id,
        approved=decision == "approve",
        by=approver.name,  # as the approve API records it: the key's principal
        comment=comment.strip() or None,
    )
    done = "approved" if decision == "approve" else "rejected"
    target = f"{PREFIX}/approvals" if back == "approvals" else f"{PREFIX}/runs/{run_id}"
    return RedirectResponse(
        f"{target}?notice={quote(f'Run {run_id} {done}.')}", status.HTTP_303_SEE_OTHER
    )
