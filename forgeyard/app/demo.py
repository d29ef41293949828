"""The main job: the logistics booking workflow end to end, through the service.

Starts what is missing (vLLM on the pretrained base model, Redis), the HTTP API and a
worker; submits a booking over HTTP as a tenant, approves it over HTTP when
asked, prints the result and the recorded trace, and stops what it started.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import suppress
from typing import Any

import httpx
from sqlmodel import select

from forgeyard.app.console import console, short
from forgeyard.db import session_scope
from workflows.catalog import EXAMPLES_DIR

DEMO_INPUT = EXAMPLES_DIR / "logistics_booking" / "inputs" / "structured.json"
DEMO_TENANT = "demo-shipper"
FINISHED = {"succeeded", "failed", "cancelled"}


def demo_key() -> str:
    """A fresh API key of the demo tenant (created on first use)."""
    from forgeyard.tenants import TenantExists, create_key, create_tenant

    with suppress(TenantExists):
        create_tenant(DEMO_TENANT, "Demo shipper")
    return create_key(DEMO_TENANT, "demo").token


def book_over_http(api_url: str, token: str, *, timeout: float = 600) -> dict[str, Any]:
    """Submit the demo booking, approve it when asked, follow it to the end; the final run."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as http:
        body = {"input": json.loads(DEMO_INPUT.read_text())}
        response = http.post("/v1/workflows/logistics_booking/runs", json=body)
        response.raise_for_status()
        run = response.json()
        console.print(
            f"POST /v1/workflows/logistics_booking/runs → {response.status_code}, "
            f"run [bold]{run['id']}[/]"
        )
        shown, approved = 0, False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = http.get(f"/v1/runs/{run['id']}").json()
            steps = http.get(f"/v1/runs/{run['id']}/steps").json()
            for step in steps[shown:]:
                detail = step["error"] or short(step["output"] or "", 80)
                console.print(
                    f"  {step['seq']:>2} {step['node']} [dim]{step['kind']}[/] "
                    f"{step['status']} {detail}"
                )
            shown = len(steps)
            if run["status"] == "waiting_approval" and not approved:
                console.print(f"[yellow]approval needed:[/] {run['pending_approval']['message']}")
                decision = http.post(
                    f"/v1/runs/{run['id']}/approve",
                    json={"by": "demo-ops", "comment": "approved by the demo"},
                )
                decision.raise_for_status()
                console.print(f"POST /v1/runs/{run['id']}/approve → {decision.status_code}")
                approved = True
            if run["status"] in FINISHED:
                return dict(run)
            time.sleep(0.5)
    raise TimeoutError(f"run {run['id']} did not finish within {timeout:.0f} s")


def bookings_of(run_id: str) -> list[str]:
    from workflows.examples.logistics_booking.models import Booking

    with session_scope() as session:
        return list(session.exec(select(Booking.reference).where(Booking.run_id == run_id)))
