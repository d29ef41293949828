"""Workflows a tenant can run: list, show, register a spec (version)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response, status

from api import registry
from api.deps import AdminDep, ReaderDep
from api.errors import BODY_ERRORS, ERROR_RESPONSES, errors
from api.schemas import WorkflowDetail, WorkflowRegister, WorkflowSummary, WorkflowVersion
from workflows.loader import SpecError

log = logging.getLogger("forgeyard.api")

router = APIRouter(prefix="/v1/workflows", tags=["workflows"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[WorkflowSummary], operation_id="listWorkflows")
def list_workflows(principal: ReaderDep) -> list[WorkflowSummary]:
    """Workflows this tenant can run, each at its newest version."""
    out = []
    for name in registry.names(principal.tenant_id):
        try:
            loaded = registry.resolve(principal.tenant_id, name)
        except SpecError:
            # A broken file in the catalog is the operator's to fix (`forgeyard
            # workflows validate`); it must not hide the other workflows.
            log.warning("workflow `%s` in the catalog does not load; not listed", name)
            continue
        source = registry.versions(principal.tenant_id, name)[-1].source
        out.append(
            WorkflowSummary(
                name=name,
                version=loaded.spec.version,
                description=loaded.spec.description,
                source=source,
            )
        )
    return out


def _detail(tenant_id: str, name: str, version: str | None = None) -> WorkflowDetail:
    loaded = registry.resolve(tenant_id, name, version)
    versions = registry.versions(tenant_id, name)
    current = next((v for v in versions if v.hash == loaded.hash), versions[-1])
    return WorkflowDetail(
        name=loaded.spec.name,
        version=loaded.spec.version,
        description=loaded.spec.description,
        source=current.source,
        hash=loaded.hash,
        input_schema=loaded.spec.input,
        spec=loaded.source,
        versions=[WorkflowVersion(**vars(v)) for v in versions],
    )


@router.get(
    "/{name}", response_model=WorkflowDetail, operation_id="getWorkflow", responses=errors(404)
)
def get_workflow(name: str, principal: ReaderDep, version: str | None = None) -> WorkflowDetail:
    """A workflow's spec, input schema and versions (newest, or `version`)."""
    return _detail(principal.tenant_id, name, version)


@router.post(
    "",
    response_model=WorkflowDetail,
    status_code=status.HTTP_201_CREATED,
    operation_id="registerWorkflow",
    responses={
        200: {"model": WorkflowDetail, "description": "Already registered."},
        **errors(409),
        **BODY_ERRORS,
    },
)
def register_workflow(
    body: WorkflowRegister, principal: AdminDep, response: Response
) -> WorkflowDetail:
    """Register a spec, or a new version of one, from YAML; problems come with line numbers."""
    loaded, created = registry.register(principal.tenant_id, body.yaml)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _detail(principal.tenant_id, loaded.spec.name, loaded.spec.version)
