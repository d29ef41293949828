"""Runs: submit one, list them, show one and its recorded trace."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from agents.diff import diff_runs
from agents.runner import get_run
from agents.search import RunQuery, search_runs
from agents.trace import load_trace
from api import registry, submissions
from api.deps import Principal, ReaderDep, SubmitterDep
from api.errors import AUTH_ERRORS, BODY_ERRORS, errors
from api.metrics import RUNS_SUBMITTED
from api.schemas import RunCreate, RunDiffOut, RunOut, RunPage, RunSearchParams, StepOut
from api.waiting import WAIT_HEADER, settled, wait_for_run
from forgeyard.models import Run
from worker.webhooks import deliveries

router = APIRouter(tags=["runs"], responses=AUTH_ERRORS)

_WAIT_HEADERS = {
    WAIT_HEADER: {
        "description": "With `wait`: `settled` (finished or waiting for an approval) or "
        "`timeout` (the run as it stands when the time was up).",
        "schema": {"type": "string", "enum": ["settled", "timeout"]},
    }
}


def _submit(
    principal: Principal, name: str, body: RunCreate, idempotency_key: str | None
) -> tuple[Run, bool]:
    loaded = registry.resolve(principal.tenant_id, name)
    return submissions.submit(
        principal.tenant_id,
        name,
        loaded,
        body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
    )


def _one(run: Run) -> RunOut:
    """One run's answer: with its webhook events' delivery status."""
    return RunOut.of(run, webhooks=deliveries(run.id) if run.webhook_url else [])


@router.post(
    "/v1/workflows/{name}/runs",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="submitRun",
    responses={
        **errors(404, 409),
        **BODY_ERRORS,
        200: {
            "model": RunOut,
            "description": "With `wait`: the run settled in time (finished, or waiting for "
            "an approval).",
            "headers": _WAIT_HEADERS,
        },
        202: {
            "description": "The run, queued (or as it stands when `wait` ran out).",
            "headers": _WAIT_HEADERS,
        },
    },
)
async def submit_run(
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
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            description="Seconds to wait for the run to finish or wait for an approval "
            "before answering (at most `FORGEYARD_RUN_WAIT_MAX_SECONDS`, 120 by default). "
            "200 when it settled, 202 with the run as it stands when the time was up.",
        ),
    ] = None,
) -> RunOut:
    """Start a run of the workflow's newest version; a worker executes it."""
    run, created = await run_in_threadpool(_submit, principal, name, body, idempotency_key)
    if created:
        RUNS_SUBMITTED.labels(run.workflow).inc()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/runs/{run.id}"
    if wait is None:
        return RunOut.of(run)
    run = await wait_for_run(run.id, tenant_id=principal.tenant_id, seconds=wait, response=response)
    if settled(run):
        response.status_code = status.HTTP_200_OK
    return await run_in_threadpool(_one, run)


@router.get(
    "/v1/runs/{run_id}/wait",
    response_model=RunOut,
    operation_id="waitRun",
    responses={**errors(404, 422), 200: {"headers": _WAIT_HEADERS}},
)
async def wait_run(
    run_id: str,
    principal: ReaderDep,
    response: Response,
    timeout: Annotated[
        float,
        Query(
            ge=0,
            description="Seconds to wait at most (capped by `FORGEYARD_RUN_WAIT_MAX_SECONDS`).",
        ),
    ] = 30.0,
) -> RunOut:
    """The run once it finished or waits for an approval, or as it stands when time is up."""
    run = await wait_for_run(
        run_id, tenant_id=principal.tenant_id, seconds=timeout, response=response
    )
    return await run_in_threadpool(_one, run)


def _utf8_query(request: Request) -> None:
    # Starlette decodes bad UTF-8 in a query string to U+FFFD, so a lone
    # surrogate would silently match nothing; it is the client's mistake.
    for pair in request.scope["query_string"].split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            field = unquote_to_bytes(name).decode("utf-8", "replace")
            raise RequestValidationError(
                [{"type": "unicode", "loc": ("query", field), "msg": "not valid UTF-8 text"}]
            ) from None


@router.get(
    "/v1/runs",
    response_model=RunPage,
    dependencies=[Depends(_utf8_query)],
    operation_id="listRuns",
    responses=errors(400, 422),
)
def list_runs(principal: ReaderDep, params: Annotated[RunSearchParams, Query()]) -> RunPage:
    """This tenant's runs, newest first, filtered (see the parameters); paginated by cursor."""
    filters = params.model_dump(exclude={"status", "where", "cursor", "limit"})
    query = RunQuery.of(status=params.status, where=params.where, **filters)
    page = search_runs(principal.tenant_id, query, cursor=params.cursor, limit=params.limit)
    return RunPage(items=[RunOut.of(r) for r in page.runs], next_cursor=page.next_cursor)


@router.get(
    "/v1/runs/{run_id}", response_model=RunOut, operation_id="getRun", responses=errors(404)
)
def read_run(run_id: str, principal: ReaderDep) -> RunOut:
    """A run: status, output, error, spec hash, timings, its webhook events' delivery."""
    return _one(get_run(run_id, tenant_id=principal.tenant_id))


@router.get(
    "/v1/runs/{run_id}/steps",
    response_model=list[StepOut],
    operation_id="listRunSteps",
    responses=errors(404),
)
def read_steps(run_id: str, principal: ReaderDep) -> list[StepOut]:
    """The recorded trace of a run, in order."""
    get_run(run_id, tenant_id=principal.tenant_id)
    return [StepOut.of(s) for s in load_trace(run_id)]


@router.get(
    "/v1/runs/{run_id}/diff/{other_id}",
    response_model=RunDiffOut,
    operation_id="diffRuns",
    responses=errors(404),
)
def diff(run_id: str, other_id: str, principal: ReaderDep) -> RunDiffOut:
    """Compare two runs: steps aligned by node and visit, the first divergence, the outputs."""
    result = diff_runs(run_id, other_id, tenant_id=principal.tenant_id)
    return RunDiffOut.model_validate(result.to_json())
