"""LoRA adapters of a tenant: list, show, promote a candidate through the gate, roll back.

Promotion is a worker job: the POST records it (refusing at once what needs no
model server) and answers 202 with the promotion to poll (``/v1/promotions``).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AdminDep, ReaderDep
from api.errors import ERROR_RESPONSES, UNAVAILABLE_RESPONSE, errors
from api.schemas import AdapterOut, PromotionOut, RollbackOut
from forgeyard.records.training import AdapterStatus
from training import adapters, promotions
from worker import promotions as promotion_worker

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


def start_promotion(adapter_id: str, tenant_id: str) -> PromotionOut:
    """Record a promotion and send it to a worker (the console's promote button too)."""
    record = promotions.create_promotion(adapter_id, tenant_id=tenant_id)
    # Recorded first: an unreachable broker leaves it queued for the sweeper, not lost.
    promotion_worker.enqueue(record.id)
    return PromotionOut.of(record)


@router.post(
    "/{adapter_id}/promote",
    response_model=PromotionOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="promoteAdapter",
    responses=errors(404, 409, 422),
)
def promote_adapter(adapter_id: str, principal: AdminDep, response: Response) -> PromotionOut:
    """Queue the gate for a candidate: a worker makes it active only if it beats what serves now."""
    out = start_promotion(adapter_id, principal.tenant_id)
    response.headers["Location"] = out.links["self"]
    return out


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
