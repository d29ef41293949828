"""Replay, what-if and fork from the run page, through the replay API's own functions."""

from __future__ import annotations

import json
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from agents.runner import get_run
from agents.trace import load_trace
from api.console.forking import edit_patch, state_after
from api.console.render import PREFIX, page
from api.console.session import UserDep, require_csrf
from api.routes import replays as replays_api
from api.schemas import ForkCreate, ReplayCreate, StepOut

router = APIRouter()


def _to_new_run(run_id: str, what: str) -> Response:
    notice = quote(f"{what} started as run {run_id}.")
    return RedirectResponse(f"{PREFIX}/runs/{run_id}?notice={notice}", status.HTTP_303_SEE_OTHER)


@router.post("/runs/{run_id}/replay", dependencies=[Depends(require_csrf)])
def replay(
    run_id: str,
    user: UserDep,
    mode: Annotated[Literal["recorded", "what_if"], Form()] = "recorded",
    adapter: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A recorded replay, or a what-if with one of the tenant's adapters (or the base model)."""
    body = ReplayCreate(mode=mode, adapter=adapter or None) if mode == "what_if" else ReplayCreate()
    new = replays_api.replay(run_id, body, user.need("runs:submit"), Response())
    return _to_new_run(new.id, "Recorded replay" if mode == "recorded" else "What-if replay")


@router.get("/runs/{run_id}/fork")
def fork_form(
    run_id: str, request: Request, user: UserDep, seq: Annotated[int, Query(ge=1)]
) -> Response:
    """The state after step ``seq`` as JSON, to edit and fork from."""
    run = get_run(run_id, tenant_id=user.need("runs:read").tenant_id)
    steps = [StepOut.of(s) for s in load_trace(run.id)]
    step = next((s for s in steps if s.seq == seq), None)
    if step is None:
        raise HTTPException(404, f"seq: run `{run_id}` has no step {seq} (1..{len(steps)})")
    state = state_after(run, steps, seq)
    return page(
        request,
        "fork.html.jinja",
        session=user,
        run=run,
        step=step,
        state_text=json.dumps(state, indent=2, ensure_ascii=False, sort_keys=True),
    )


@router.post("/runs/{run_id}/fork", dependencies=[Depends(require_csrf)])
def fork(
    run_id: str,
    user: UserDep,
    seq: Annotated[int, Form(ge=1)],
    state: Annotated[str, Form(max_length=500_000)],
    live_effects: Annotated[bool, Form()] = False,
) -> Response:
    """Fork after step ``seq`` with the edited state (sent as the patch it amounts to)."""
    try:
        edited = json.loads(state)
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"state: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(edited, dict):
        raise HTTPException(422, "state: expected a JSON object of state fields")
    submitter = user.need("runs:submit")
    run = get_run(run_id, tenant_id=submitter.tenant_id)
    original = state_after(run, [StepOut.of(s) for s in load_trace(run.id)], seq)
    body = ForkCreate(at_step=seq, patch=edit_patch(original, edited), live_effects=live_effects)
    new = replays_api.fork(run_id, body, submitter, Response())
    return _to_new_run(new.id, "Fork")
