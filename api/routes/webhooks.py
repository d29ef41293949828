"""A run's webhook events: their delivery status, and redelivering one."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool

from agents.runner import get_run
from api.deps import ReaderDep, SubmitterDep
from api.errors import AUTH_ERRORS, errors
from api.schemas import WebhookDeliveryOut
from worker.runs import enqueue_webhook
from worker.webhooks import deliveries, redeliver

router = APIRouter(prefix="/v1/runs/{run_id}/webhooks", tags=["webhooks"], responses=AUTH_ERRORS)


@router.get(
    "",
    response_model=list[WebhookDeliveryOut],
    operation_id="listWebhookDeliveries",
    responses=errors(404),
)
def list_deliveries(run_id: str, principal: ReaderDep) -> list[WebhookDeliveryOut]:
    """The run's webhook events, oldest first, each with its delivery status."""
    get_run(run_id, tenant_id=principal.tenant_id)
    return [WebhookDeliveryOut.of(d) for d in deliveries(run_id)]


@router.post(
    "/{delivery_id}/redeliver",
    response_model=WebhookDeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="redeliverWebhook",
    # 422: the webhook's host is no longer allowed (FORGEYARD_WEBHOOK_ALLOWED_HOSTS).
    responses=errors(404, 422),
)
async def redeliver_webhook(
    run_id: str, delivery_id: str, principal: SubmitterDep
) -> WebhookDeliveryOut:
    """Send a webhook event again (same `webhook-id` and body), with a fresh set of tries."""
    delivery = await run_in_threadpool(
        redeliver, run_id, delivery_id, tenant_id=principal.tenant_id
    )
    await run_in_threadpool(enqueue_webhook, delivery.id)
    return WebhookDeliveryOut.of(delivery)
