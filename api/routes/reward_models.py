"""Reward models of a tenant: register a spec version, list and show them, evaluate one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from api import reward_specs
from api.deps import AdminDep, ReaderDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import (
    EvaluationCreate,
    EvaluationOut,
    RewardModelDetail,
    RewardModelOut,
    RewardModelRegister,
)
from forgeyard.records.rewards import EvaluationRecord
from rewards import store
from rewards.errors import RewardModelNotFound
from rewards.report import render_html
from worker import evaluations

router = APIRouter(prefix="/v1/reward-models", tags=["reward-models"], responses=ERROR_RESPONSES)


@router.post(
    "",
    response_model=RewardModelDetail,
    status_code=status.HTTP_201_CREATED,
    operation_id="registerRewardModel",
    responses={
        200: {"model": RewardModelDetail, "description": "Already registered."},
        **errors(409),
        **BODY_ERRORS,
    },
)
def register_reward_model(
    body: RewardModelRegister, principal: AdminDep, response: Response
) -> RewardModelDetail:
    """Register a reward-model spec version from YAML; problems come with line numbers."""
    record, created = reward_specs.register(principal.tenant_id, body.yaml)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"{router.prefix}/{record.id}"
    return RewardModelDetail.of(record)


@router.get("", response_model=list[RewardModelOut], operation_id="listRewardModels")
def list_reward_models(principal: ReaderDep, workflow: str | None = None) -> list[RewardModelOut]:
    """This tenant's reward-model versions, newest first (of one workflow, if given)."""
    versions = store.list_versions(tenant_id=principal.tenant_id, workflow=workflow)
    return [RewardModelOut.of(v) for v in versions]


@router.get(
    "/{reward_model_id}",
    response_model=RewardModelDetail,
    operation_id="getRewardModel",
    responses=errors(404),
)
def read_reward_model(reward_model_id: str, principal: ReaderDep) -> RewardModelDetail:
    """A reward-model version (by id or hash prefix): its spec, status, latest evaluation."""
    return RewardModelDetail.of(store.get_version(reward_model_id, tenant_id=principal.tenant_id))


@router.post(
    "/{reward_model_id}/evaluations",
    response_model=EvaluationOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="evaluateRewardModel",
    responses={**errors(404), **BODY_ERRORS},
)
def create_evaluation(
    reward_model_id: str, body: EvaluationCreate, principal: AdminDep, response: Response
) -> EvaluationOut:
    """Evaluate the version on a labelled dataset or on recorded runs; a worker runs it."""
    version = store.get_version(reward_model_id, tenant_id=principal.tenant_id)
    evaluation = store.create_evaluation(
        version.id,
        dataset_text=body.dataset,
        runs=body.runs,
        tasks_text=body.tasks,
        tenant_id=principal.tenant_id,
    )
    # Recorded first: an unreachable broker leaves it queued, not lost.
    evaluations.enqueue(evaluation.id)
    out = EvaluationOut.of(evaluation)
    response.headers["Location"] = out.links["self"]
    return out


def _evaluation(reward_model_id: str, evaluation_id: str, tenant_id: str) -> EvaluationRecord:
    version = store.get_version(reward_model_id, tenant_id=tenant_id)
    evaluation = store.get_evaluation(evaluation_id, tenant_id=tenant_id)
    if evaluation.reward_model_id != version.id:
        raise RewardModelNotFound(f"No evaluation `{evaluation_id}`.")
    return evaluation


@router.get(
    "/{reward_model_id}/evaluations/{evaluation_id}",
    response_model=EvaluationOut,
    operation_id="getEvaluation",
    responses={
        **errors(404, 409, 422),
        200: {
            "content": {
                "text/html": {"example": "<!doctype html><title>Evaluation ev_81d0</title>…"}
            },
            "description": "JSON, or the HTML report (`?format=html` or `Accept: text/html`).",
        },
    },
)
def read_evaluation(
    reward_model_id: str,
    evaluation_id: str,
    principal: ReaderDep,
    request: Request,
    output_format: Annotated[Literal["json", "html"] | None, Query(alias="format")] = None,
) -> EvaluationOut | HTMLResponse:
    """An evaluation: status, progress and report; as a self-contained HTML page on request."""
    evaluation = _evaluation(reward_model_id, evaluation_id, principal.tenant_id)
    wants_html = output_format == "html" or (
        output_format is None and "text/html" in request.headers.get("accept", "")
    )
    if not wants_html:
        return EvaluationOut.of(evaluation)
    if evaluation.report is None:
        why = f": {evaluation.error}" if evaluation.error else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Evaluation `{evaluation_id}` is {evaluation.status.value}{why}; it has a report "
            "only once it has succeeded (poll it as JSON for progress).",
        )
    return HTMLResponse(render_html(evaluation.report))
