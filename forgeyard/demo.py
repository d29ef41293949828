"""The main job: the logistics booking workflow end to end, through the service.

Starts what is missing (vLLM on the tiny model, Redis), the HTTP API and a
worker; submits a booking over HTTP as a tenant, approves it over HTTP when
asked, prints the result and the recorded trace, and stops what it started.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from agents.model_client import ModelClient
from forgeyard.console import console, short
from forgeyard.db import session_scope
from forgeyard.settings import get_settings
from workflows.catalog import EXAMPLES_DIR

DEMO_INPUT = EXAMPLES_DIR / "logistics_booking" / "inputs" / "structured.json"
DEMO_TENANT = "demo-shipper"
FINISHED = {"succeeded", "failed", "cancelled"}


def load_active_adapters(base_url: str) -> None:
    """Load every tenant's active adapter into a server started here (a warning if one fails).

    A run whose adapter is still missing loads it itself (once) before its node asks.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from serving import ServingError
    from training.adapters import sync_active_adapters

    try:
        loaded = sync_active_adapters(base_url)
    except (ServingError, SQLAlchemyError) as exc:
        # The server still serves the base model; runs load their adapter on first use.
        message = str(exc).splitlines()[0]
        console.print(f"[yellow]warning:[/] active adapters not loaded: {message}")
        return
    if loaded:
        console.print(f"loaded {len(loaded)} active adapter(s): {', '.join(loaded)}")


@contextmanager
def model_server() -> Iterator[ModelClient]:
    """A client for a healthy model server: the configured one, or one started here."""
    from forgeyard.stack import port_in_use
    from serving.server import ModelServer, free_port, is_healthy

    settings = get_settings()
    if is_healthy(settings.model_base_url):
        console.print(f"using the model server at {settings.model_base_url}")
        load_active_adapters(settings.model_base_url)
        yield ModelClient()
        return
    model_path = settings.serve_model_path
    if model_path is None:
        from serving.tiny import build_tiny_model

        with console.status("building the tiny local model…"):
            model_path = build_tiny_model(settings.tiny_model_dir)
        console.print(f"tiny model ready in {model_path}")
    # The configured port when it is free (so other commands find the server
    # at FORGEYARD_MODEL_BASE_URL), any free one otherwise.
    port = settings.serve_port
    if port_in_use(settings.serve_host, port):
        port = free_port(settings.serve_host)
    server = ModelServer.from_settings(model=Path(model_path), port=port)
    console.print(f"starting vLLM on {server.base_url} (log: {server.log_path})")
    with console.status("waiting for vLLM to load the model (30–60 s on a CPU)…"):
        server.start()
        try:
            server.wait_until_healthy()
        except BaseException:
            server.stop()
            raise
    console.print(f"[green]vLLM is up[/] at {server.base_url}")
    load_active_adapters(server.base_url)
    try:
        yield ModelClient(base_url=server.base_url, model=server.name)
    finally:
        server.stop()
        console.print("vLLM stopped")


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
