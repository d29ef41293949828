"""The approvals inbox: runs waiting for a person, decided through the approve API's path."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from api.console.render import PREFIX, page
from api.console.session import UserDep, require_csrf
from api.deps import SessionDep
from api.routes import runs as runs_api
from forgeyard.models import RunStatus
from worker.runs import queue_decision

router = APIRouter()


@router.get("/approvals")
def inbox(
    request: Request,
    user: UserDep,
    db: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Runs of this tenant waiting for an approval, newest first, each with its question."""
    found = runs_api.list_runs(
        user.principal, db, run_status=RunStatus.waiting_approval, cursor=cursor, limit=50
    )
    return page(
        request,
        "approvals.html.jinja",
        session=user,
        runs=found.items,
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
    queue_decision(
        run_id,
        tenant_id=user.tenant_id or "",
        approved=decision == "approve",
        by=user.who,
        comment=comment.strip() or None,
    )
    done = "approved" if decision == "approve" else "rejected"
    target = f"{PREFIX}/approvals" if back == "approvals" else f"{PREFIX}/runs/{run_id}"
    return RedirectResponse(
        f"{target}?notice={quote(f'Run {run_id} {done}.')}", status.HTTP_303_SEE_OTHER
    )
