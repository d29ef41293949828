"""The FastAPI app: wires the routers, error handlers and middleware (nothing else)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors, openapi
from api.console import create_console
from api.hygiene import JSONHygiene
from api.limits import BodySizeLimit
from api.metrics import RequestMetrics
from api.routes import (
    adapters,
    docs,
    health,
    labels,
    metrics,
    promotions,
    replays,
    reward_models,
    run_actions,
    run_events,
    runs,
    training_jobs,
    webhooks,
    workflows,
)
from forgeyard.settings import apply_offline_environment, get_settings
from forgeyard.telemetry.logs import configure_logging
from forgeyard.telemetry.traces import configure_tracing, instrument_fastapi

apply_offline_environment()
# At import, so each uvicorn worker process (`--workers N` imports this module
# afresh) logs in the configured format.
configure_logging(get_settings().log_format, get_settings().log_level)
configure_tracing(get_settings(), "forgeyard-api")


def create_app() -> FastAPI:
    """An app for the current settings."""
    app = FastAPI(
        title="Forgeyard",
        version="0.1.0",
        description="Run declarative agentic workflows on your own machines. Authenticate "
        "with a tenant API key: `Authorization: Bearer <key>`.",
        # Served by api.routes.docs from vendored assets instead of a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    errors.install(app)
    openapi.install(app)
    for module in (
        docs,
        health,
        metrics,
        workflows,
        runs,
        run_actions,
        run_events,
        webhooks,
        replays,
        labels,
        reward_models,
        training_jobs,
        adapters,
        promotions,
    ):
        app.include_router(module.router)
    app.mount("/ui", create_console(), name="console")
    # Inside the size limit: only a body of allowed size is parsed and checked.
    app.add_middleware(JSONHygiene)
    app.mount("/static", StaticFiles(directory=docs.STATIC_DIR), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_request_body_bytes)
    app.add_middleware(RequestMetrics)
    # Outermost: the request's span covers the middlewares too (OTEL_* set).
    instrument_fastapi(app)
    return app


app = create_app()
