"""Server-Sent Events: a run's steps as they are recorded.

Each step is an event ``step`` whose id is its sequence number, so a client
that reconnects with ``Last-Event-ID`` gets exactly the steps after it.  The
steps are read from the database (written by whichever worker runs the run),
so the stream works across processes.  A ``run`` event (no id) reports each
status change; the stream ends after the run finishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from sqlmodel import col, select
from sse_starlette import EventSourceResponse

from agents.runner import get_run
from api.deps import ReaderDep
from api.errors import AUTH_ERRORS, errors, unavailable_service
from api.schemas import StepOut
from forgeyard.db import session_scope
from forgeyard.models import Run, Step
from forgeyard.settings import get_settings

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=AUTH_ERRORS)

# The events of the stream, as SDK generators read them: each SSE event's
# `event` name, its `id`, and its `data` (JSON).
EVENT_SCHEMA: dict[str, Any] = {
    "description": "One Server-Sent Event; `data` is JSON.",
    "oneOf": [
        {
            "title": "StepEvent",
            "type": "object",
            "description": "A step was recorded. `id` is its `seq`: reconnect with "
            "`Last-Event-ID` to get only the steps after it.",
            "properties": {
                "event": {"const": "step"},
                "id": {"type": "string", "description": "The step's `seq`."},
                "data": {"$ref": "#/components/schemas/StepOut"},
            },
            "required": ["event", "id", "data"],
        },
        {
            "title": "RunStatusEvent",
            "type": "object",
            "description": "The run's status, at the start and at each change (no `id`); "
            "the stream ends after a finished status.",
            "properties": {
                "event": {"const": "run"},
                "data": {
                    "type": "object",
                    "properties": {"status": {"$ref": "#/components/schemas/RunStatus"}},
                    "required": ["status"],
                },
            },
            "required": ["event", "data"],
        },
        {
            "title": "UnavailableEvent",
            "type": "object",
            "description": "The database became unreachable mid-stream: the stream ends; "
            "reconnect after `retry` ms with `Last-Event-ID`.",
            "properties": {
                "event": {"const": "unavailable"},
                "retry": {"type": "integer", "description": "Milliseconds."},
                "data": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                },
            },
            "required": ["event", "data"],
        },
    ],
}
EVENT_STREAM_EXAMPLE = (
    'event: run\ndata: {"status": "running"}\n\n'
    'event: step\nid: 1\ndata: {"seq": 1, "node": "add", "kind": "tool", "visit": 1, '
    '"attempt": 1, "status": "ok", "input": {"a": 7, "b": 0}, "output": {"sum": 7}}\n\n'
    'event: run\ndata: {"status": "succeeded"}\n\n'
)


def _status_and_steps(run_id: str, after: int) -> tuple[Run, list[Step]]:
    # Status first: steps are committed before the status that follows them,
    # so a finished status read here means every step is in the read below.
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        steps = list(
            session.exec(
                select(Step)
                .where(Step.run_id == run_id, col(Step.seq) > after)
                .order_by(col(Step.seq))
            )
        )
    return run, steps


async def _stream(run_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
    poll = get_settings().events_poll_seconds
    last_status = None
    while True:
        try:
            run, steps = await run_in_threadpool(_status_and_steps, run_id, after)
        except Exception as exc:
            if unavailable_service(exc) is None:
                raise
            # Mid-stream the status is sent already: end the stream cleanly and
            # tell the client when to reconnect (it resumes with Last-Event-ID).
            yield {
                "event": "unavailable",
                "retry": get_settings().retry_after_seconds * 1000,
                "data": '{"detail": "the database is unreachable; reconnect to resume"}',
            }
            return
        for step in steps:
            after = step.seq
            yield {"event": "step", "id": str(step.seq), "data": StepOut.of(step).model_dump_json()}
        if run.status != last_status:
            last_status = run.status
            yield {"event": "run", "data": f'{{"status": "{run.status.value}"}}'}
        if run.status.finished:
            return
        await asyncio.sleep(poll)


@router.get(
    "/{run_id}/events",
    response_class=EventSourceResponse,
    operation_id="streamRunEvents",
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "Server-Sent Events."},
                    # OpenAPI 3.2 names this `itemSchema`; 3.1 (FastAPI's) takes an extension.
                    "x-item-schema": EVENT_SCHEMA,
                    "example": EVENT_STREAM_EXAMPLE,
                }
            },
            "description": "`step` and `run` events until the run finishes (each event's "
            "payload: `x-item-schema`).",
        },
        **errors(400, 404),
    },
)
async def run_events(
    run_id: str,
    principal: ReaderDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this step.")] = None,
) -> EventSourceResponse:
    """Each step of the run as it happens (Server-Sent Events), resumable with Last-Event-ID."""
    await run_in_threadpool(get_run, run_id, tenant_id=principal.tenant_id)
    after = 0
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "Last-Event-ID must be the id of a step event (a number).",
            )
        after = int(last_event_id)
    return EventSourceResponse(_stream(run_id, after), ping=15)
