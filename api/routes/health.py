"""Liveness and readiness probes."""

from __future__ import annotations

import httpx
import redis
from fastapi import APIRouter, Response, status
from sqlalchemy import text

from api.errors import retry_after
from api.schemas import Check, Readiness
from forgeyard.db import get_engine
from forgeyard.settings import get_settings

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    operation_id="checkHealth",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
def healthz() -> dict[str, str]:
    """The API process is up (checks nothing else)."""
    return {"status": "ok"}


def _database() -> str:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))
    return "reachable"


def _broker() -> str:
    client = redis.Redis.from_url(
        get_settings().broker_url, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        client.ping()
    finally:
        client.close()
    return "reachable"


def _model_server() -> str:
    url = get_settings().model_base_url.rstrip("/") + "/models"
    httpx.get(url, timeout=2).raise_for_status()
    return f"reachable at {url}"


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="checkReadiness",
    responses={503: {"model": Readiness, "description": "A required check failed."}},
)
def readyz(response: Response) -> Readiness:
    """Database, broker and model server reachable (the model server is optional by default)."""
    settings = get_settings()
    probes = {
        "database": (_database, True),
        "broker": (_broker, True),
        "model_server": (_model_server, settings.ready_requires_model),
    }
    checks: dict[str, Check] = {}
    for name, (probe, required) in probes.items():
        try:
            checks[name] = Check(ok=True, required=required, detail=probe())
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its reason
            checks[name] = Check(ok=False, required=required, detail=f"{type(exc).__name__}: {exc}")
    ready = all(c.ok for c in checks.values() if c.required)
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers.update(retry_after())
    return Readiness(ready=ready, checks=checks)
