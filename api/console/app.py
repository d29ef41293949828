"""The console's app, mounted by the API under ``/ui``: same process, same tenants, HTML."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.console import approvals, auth, diff, errors, replays, rewards, runs, training

STATIC = Path(__file__).parent / "static"


def create_console() -> FastAPI:
    """A FastAPI app of its own, so its errors become pages while the API's stay JSON."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(console)
    for module in (auth, runs, approvals, rewards, training, replays, diff):
        console.include_router(module.router)
    # Served from the package: an air-gapped site has no CDN to reach.
    console.mount("/static", StaticFiles(directory=STATIC), name="static")
    return console
