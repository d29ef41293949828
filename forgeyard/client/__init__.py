"""A typed Python client for Forgeyard's HTTP API (httpx, httpx-sse, pydantic only).

    from forgeyard.client import Forgeyard

    with Forgeyard("http://127.0.0.1:8080", api_key="fy_...") as fy:
        run = fy.submit_run("logistics_booking", {"request": {...}}, idempotency_key="order-4711")
        run = fy.wait(run.id, timeout=60)        # finished, or waiting for a person
        if run.status == "waiting_approval":
            run = fy.approve(run.id, comment="ok")
        for event in fy.stream_events(run.id):   # resumes by itself after a disconnect
            print(event.event, event.data)

It imports nothing else of Forgeyard (a contract in ``.importlinter``), so an
integrator's service can use it without the platform's heavy dependencies.
"""

from forgeyard.client._client import Forgeyard
from forgeyard.client._errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    ForgeyardError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StreamError,
    UnavailableError,
    WebhookVerificationError,
)
from forgeyard.client._models import (
    Event,
    Problem,
    Run,
    RunPage,
    RunStatus,
    Step,
    WebhookDelivery,
    WebhookEvent,
)
from forgeyard.client._webhooks import sign_webhook, verify_webhook

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "Event",
    "Forgeyard",
    "ForgeyardError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "Run",
    "RunPage",
    "RunStatus",
    "Step",
    "StreamError",
    "UnavailableError",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]
