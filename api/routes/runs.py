"""Runs: submit one, list them, show one and its recorded trace."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from agents.diff import diff_runs
from agents.runner import get_run
from agents.search import RunQuery, search_runs
from agents.trace import load_trace
from api import registry, submissions
from api.deps import ReaderDep, SubmitterDep
from api.errors import ERROR_RESPONSES
from api.metrics import RUNS_SUBMITTED
from api.schemas import RunCreate, RunDiffOut, RunOut, RunPage, RunSearchParams, StepOut

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


@router.get("/v1/runs", response_model=RunPage, dependencies=[Depends(_utf8_query)])
def list_runs(principal: ReaderDep, params: Annotated[RunSearchParams, Query()]) -> RunPage:
    """This tenant's runs, newest first, filtered (see the parameters); paginated by cursor."""
    filters = params.model_dump(exclude={"status", "where", "cursor", "limit"})
    query = RunQuery.of(status=params.status, where=params.where, **filters)
    page = search_runs(principal.tenant_id, query, cursor=params.cursor, limit=params.limit)
    return RunPage(items=[RunOut.of(r) for r in page.runs], next_cursor=page.next_cursor)


@router.get("/v1/runs/{run_id}", response_model=RunOut)
def read_run(run_id: str, principal: ReaderDep) -> RunOut:
    """A run: status, output, error, spec hash, timings."""
    return RunOut.of(get_run(run_id, tenant_id=principal.tenant_id))


@router.get("/v1/runs/{run_id}/steps", response_model=list[StepOut])
def read_steps(run_id: str, principal: ReaderDep) -> list[StepOut]:
    """The recorded trace of a run, in order."""
    get_run(run_id, tenant_id=principal.tenant_id)
    return [StepOut.of(s) for s in load_trace(run_id)]


@router.get("/v1/runs/{run_id}/diff/{other_id}", response_model=RunDiffOut)
def diff(run_id: str, other_id: str, principal: ReaderDep) -> RunDiffOut:
    """Compare two runs: steps aligned by node and visit, the first divergence, the outputs."""
    result = diff_runs(run_id, other_id, tenant_id=principal.tenant_id)
    return RunDiffOut.model_validate(result.to_json())
