"""Helpers for service tests: an isolated broker queue, tenants with keys, a test client.

Importing this module points the process (and the workers it starts) at a
Redis database and a queue of its own, so test sessions never share messages.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Before anything builds the Celery app from settings.
REDIS_DB = 1 + os.getpid() % 15
os.environ.setdefault("FORGEYARD_BROKER_URL", f"redis://127.0.0.1:6379/{REDIS_DB}")
os.environ.setdefault("FORGEYARD_QUEUE", f"forgeyard-test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("FORGEYARD_TRAINING_QUEUE", f"forgeyard-training-test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("FORGEYARD_API_TOOL_MODULES", json.dumps(["tests.support.tools"]))

from fastapi.testclient import TestClient  # noqa: E402

from api.main import create_app  # noqa: E402
from forgeyard.tenants import create_key, create_tenant  # noqa: E402
from tests.support.specs import spec_yaml  # noqa: E402


@dataclass
class TenantClient:
    """A tenant with an API key, and requests made with that key."""

    id: str
    key_id: str
    token: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def register(self, text: str | None = None) -> dict:
        response = self.post("/v1/workflows", json={"yaml": text or spec_yaml()})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def submit(self, run_input: dict, workflow: str = "adder", **body) -> dict:  # type: ignore[no-untyped-def]
        response = self.post(f"/v1/workflows/{workflow}/runs", json={"input": run_input, **body})
        assert response.status_code == 202, response.text
        return response.json()


def make_tenant(client: TestClient, tenant_id: str | None = None) -> TenantClient:
    tenant = create_tenant(tenant_id or f"t-{uuid.uuid4().hex[:8]}")
    key = create_key(tenant.id, "tests")
    return TenantClient(tenant.id, key.id, key.token, client)


def another_key(
    tenant: TenantClient, *scopes: str, name: str = "", expires_at: Any = None
) -> TenantClient:
    """The same tenant, with a key of its own (``scopes``, ``name``, expiry)."""
    key = create_key(tenant.id, name, scopes=scopes, expires_at=expires_at)
    return TenantClient(tenant.id, key.id, key.token, tenant.client)


def new_client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def purge_queue() -> None:
    """Drop this session's queued messages (tests without workers leave some)."""
    import redis

    from forgeyard.settings import get_settings

    settings = get_settings()
    client = redis.Redis.from_url(settings.broker_url)
    try:
        client.delete(settings.queue, settings.training_queue)
    finally:
        client.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; its value.  (A liveness bound, not a timing check.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_events(tenant, run_id: str, **headers) -> list[tuple[str, str | None, dict]]:  # type: ignore[no-untyped-def]
    """(event, id, data) of each event until the stream ends."""
    events, current = [], {}
    with tenant.client.stream(
        "GET", f"/v1/runs/{run_id}/events", headers={**tenant.headers, **headers}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "data" in current:
                    events.append(
                        (
                            current.get("event", "message"),
                            current.get("id"),
                            json.loads(current["data"]),
                        )
                    )
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events
