"""Promotions of a tenant's adapters: follow one until the worker's gate has decided."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReaderDep
from api.errors import ERROR_RESPONSES, errors
from api.schemas import PromotionOut
from training import promotions

router = APIRouter(prefix="/v1/promotions", tags=["adapters"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[PromotionOut], operation_id="listPromotions")
def list_promotions(
    principal: ReaderDep, adapter_id: str | None = None, limit: int = 100
) -> list[PromotionOut]:
    """This tenant's promotions, newest first (of one adapter, if given)."""
    found = promotions.list_promotions(
        tenant_id=principal.tenant_id, adapter_id=adapter_id, limit=max(1, min(limit, 500))
    )
    return [PromotionOut.of(p) for p in found]


@router.get(
    "/{promotion_id}",
    response_model=PromotionOut,
    operation_id="getPromotion",
    responses=errors(404),
)
def read_promotion(promotion_id: str, principal: ReaderDep) -> PromotionOut:
    """A promotion: queued, running, succeeded (the adapter is active) or failed (and why)."""
    return PromotionOut.of(promotions.get_promotion(promotion_id, tenant_id=principal.tenant_id))
