"""The main job: the logistics booking workflow end to end on a local model.

Uses the model server at ``FORGEYARD_MODEL_BASE_URL`` when one answers there;
otherwise builds the tiny model (if needed), starts vLLM for the duration of
the demo, and stops it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import select

from agents.model_client import ModelClient
from forgeyard.console import console
from forgeyard.db import session_scope
from forgeyard.settings import get_settings
from workflows.catalog import EXAMPLES_DIR

DEMO_INPUT = EXAMPLES_DIR / "logistics_booking" / "inputs" / "structured.json"


@contextmanager
def model_server() -> Iterator[ModelClient]:
    """A client for a healthy model server: the configured one, or one started here."""
    from serving.server import ModelServer, free_port, is_healthy

    settings = get_settings()
    if is_healthy(settings.model_base_url):
        console.print(f"using the model server at {settings.model_base_url}")
        yield ModelClient()
        return
    model_path = settings.serve_model_path
    if model_path is None:
        from serving.tiny import build_tiny_model

        with console.status("building the tiny local model…"):
            model_path = build_tiny_model(settings.tiny_model_dir)
        console.print(f"tiny model ready in {model_path}")
    server = ModelServer.from_settings(model=Path(model_path), port=free_port(settings.serve_host))
    console.print(f"starting vLLM on {server.base_url} (log: {server.log_path})")
    with console.status("waiting for vLLM to load the model (30–60 s on a CPU)…"):
        server.start()
        try:
            server.wait_until_healthy()
        except BaseException:
            server.stop()
            raise
    console.print(f"[green]vLLM is up[/] at {server.base_url}")
    try:
        yield ModelClient(base_url=server.base_url, model=server.name)
    finally:
        server.stop()
        console.print("vLLM stopped")


def bookings_of(run_id: str) -> list[str]:
    from workflows.examples.logistics_booking.models import Booking

    with session_scope() as session:
        return list(session.exec(select(Booking.reference).where(Booking.run_id == run_id)))
