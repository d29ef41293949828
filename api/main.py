"""The FastAPI app: wires the routers, error handlers and middleware (nothing else)."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.console import create_console
from api.limits import BodySizeLimit
from api.metrics import RequestMetrics
from api.routes import (
    adapters,
    health,
    labels,
    metrics,
    reward_models,
    run_actions,
    run_events,
    runs,
    training_jobs,
    workflows,
)
from forgeyard.settings import apply_offline_environment, get_settings

apply_offline_environment()


def create_app() -> FastAPI:
    """An app for the current settings."""
    app = FastAPI(
        title="Forgeyard",
        version="0.1.0",
        description="Run declarative agentic workflows on your own machines. Authenticate "
        "with a tenant API key: `Authorization: Bearer <key>`.",
    )
    errors.install(app)
    for module in (
        health,
        metrics,
        workflows,
        runs,
        run_actions,
        run_events,
        labels,
        reward_models,
        training_jobs,
        adapters,
    ):
        app.include_router(module.router)
    app.mount("/ui", create_console(), name="console")
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_request_body_bytes)
    app.add_middleware(RequestMetrics)
    return app


app = create_app()
