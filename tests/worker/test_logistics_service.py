"""The shipped logistics workflow as a service, on the real (tiny) model served by vLLM.

Submit over HTTP → a worker runs it (model picks a quote) → waits for approval
→ approved over HTTP → booked exactly once.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Effect
from tests.support.service import wait_for
from workflows.catalog import EXAMPLES_DIR

pytestmark = pytest.mark.integration


def test_logistics_booking_over_http_with_approval(tenant, start_worker, model_server):
    start_worker(
        FORGEYARD_MODEL_BASE_URL=model_server.base_url, FORGEYARD_MODEL_NAME=model_server.name
    )
    request = json.loads((EXAMPLES_DIR / "logistics_booking/inputs/structured.json").read_text())
    # Threshold 0: every booking needs a person's approval.
    run = tenant.submit(request, workflow="logistics_booking", config={"approval_threshold_usd": 0})
    url = f"/v1/runs/{run['id']}"

    def settled() -> dict | None:
        body = tenant.get(url).json()
        return body if body["status"] not in ("queued", "running") else None

    waiting = wait_for(settled, timeout=300, what="the approval")
    assert waiting["status"] == "waiting_approval", waiting["error"]
    assert tenant.post(f"{url}/approve", json={"by": "ops@example.com"}).status_code == 202
    done = wait_for(settled, timeout=300, what="the booking")
    assert done["status"] == "succeeded", done["error"]

    steps = tenant.get(f"{url}/steps").json()
    assert any(s["kind"] == "llm" and s["status"] == "ok" for s in steps)
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    with session_scope() as s:
        effects = list(s.exec(select(Effect).where(Effect.run_id == run["id"])))
    assert [(e.tool, e.status.value) for e in effects] == [("logistics.book", "done")]
