"""LoRA adapters of a tenant: list, show, promote a candidate through the gate, roll back."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminDep, ReaderDep
from api.errors import ERROR_RESPONSES, UNAVAILABLE_RESPONSE, errors
from api.schemas import AdapterOut, PromotionRefusedOut, RollbackOut
from forgeyard.records.training import AdapterStatus
from training import adapters

router = APIRouter(
    prefix="/v1/adapters",
    tags=["adapters"],
    responses={**ERROR_RESPONSES, **UNAVAILABLE_RESPONSE},
)


@router.get("", response_model=list[AdapterOut], operation_id="listAdapters", responses=errors(422))
def list_adapters(
    principal: ReaderDep,
    workflow: str | None = None,
    node: str | None = None,
    status: AdapterStatus | None = None,
) -> list[AdapterOut]:
    """This tenant's adapters, newest first (of one workflow, node or status, if given)."""
    records = adapters.list_adapters(
        tenant_id=principal.tenant_id, workflow=workflow, node=node, status=status
    )
    return [AdapterOut.of(r) for r in records]


@router.get(
    "/{adapter_id}", response_model=AdapterOut, operation_id="getAdapter", responses=errors(404)
)
def read_adapter(adapter_id: str, principal: ReaderDep) -> AdapterOut:
    """An adapter: its status, training metrics and the gate's last decision."""
    return AdapterOut.of(adapters.get_adapter(adapter_id, tenant_id=principal.tenant_id))


@router.post(
    "/{adapter_id}/promote",
    response_model=AdapterOut,
    operation_id="promoteAdapter",
    responses={
        **errors(404, 422),
        409: {"model": PromotionRefusedOut, "description": "The gate refused it."},
    },
)
def promote_adapter(adapter_id: str, principal: AdminDep) -> AdapterOut:
    """Evaluate a candidate against what serves now; active (and served) only if it is better."""
    record = adapters.promote(adapter_id, tenant_id=principal.tenant_id)
    return AdapterOut.of(record)


@router.post(
    "/{adapter_id}/rollback",
    response_model=RollbackOut,
    operation_id="rollbackAdapter",
    responses=errors(404, 409),
)
def rollback_adapter(adapter_id: str, principal: AdminDep) -> RollbackOut:
    """Retire the active adapter; the one it replaced (or the base model) serves again."""
    retired, active = adapters.rollback(adapter_id, tenant_id=principal.tenant_id)
    return RollbackOut(
        retired=AdapterOut.of(retired), active=AdapterOut.of(active) if active else None
    )
