"""A run's reward and labels: the tenant's reward models' scores, and a form to label it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.console.render import PREFIX, page
from api.console.session import UserDep, require_csrf
from api.routes.labels import create_label
from api.schemas import LabelCreate
from rewards.run_scores import score_run

router = APIRouter()


@router.get("/runs/{run_id}/rewards")
def rewards_panel(run_id: str, request: Request, user: UserDep) -> Response:
    """Each reward model's total and per-grader scores (a fragment for htmx, else a page)."""
    scores = score_run(run_id, tenant_id=user.need("runs:read").tenant_id)
    fragment = request.headers.get("HX-Request") == "true"
    return page(
        request,
        "_rewards.html.jinja" if fragment else "rewards.html.jinja",
        session=user,
        run_id=run_id,
        scores=scores,
    )


@router.post("/runs/{run_id}/labels", dependencies=[Depends(require_csrf)])
def label_run(
    run_id: str,
    user: UserDep,
    score: Annotated[str, Form(max_length=32)] = "",
    preferred_over: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Label the run through the labels API's own path (same checks, same record)."""
    try:
        # Empty form fields are absent values; LabelCreate then checks what is left.
        body = LabelCreate(
            score=score.strip() or None,  # type: ignore[arg-type]
            preferred_over=preferred_over.strip() or None,
            note=note.strip() or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "label"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{where}: {first['msg']}"
        ) from None
    label = create_label(run_id, body, user.need("labels:write"))
    what = f"score {label.score:g}" if label.score is not None else "preference"
    return RedirectResponse(
        f"{PREFIX}/runs/{run_id}?notice={quote(f'Label saved ({what}).')}#labels",
        status.HTTP_303_SEE_OTHER,
    )
