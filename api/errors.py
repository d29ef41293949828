"""Domain errors → HTTP answers, in one place.

Every error a client can cause is a 4xx with an :class:`~api.schemas.ErrorOut`
body that says what is wrong; a 500 means a bug, and is logged.  A database
or broker that cannot be reached is neither: a 503 with ``Retry-After``
(:func:`unavailable_service`), and the next request tries again (the engine
pings pooled connections, so the API recovers by itself).
"""

from __future__ import annotations

import logging
from typing import Any

import kombu.exceptions
import redis.exceptions
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from agents.replay import ReplayInvalid, SpecMissing
from agents.runner import InputInvalid, RunNotFound, RunStateError
from agents.search import CursorInvalid, QueryInvalid
from api.registry import SpecNotAllowed, VersionConflict
from api.schemas import ErrorOut, Problem, PromotionRefusedOut
from api.submissions import IdempotencyConflict
from forgeyard.db import DATABASE_UNAVAILABLE
from forgeyard.settings import get_settings
from rewards.errors import DatasetError, LabelError, RewardModelNotFound, RewardSpecError
from serving import AdapterError, ModelServerError
from training import TrainingError
from training.adapters import (
    AdapterNotFound,
    AdapterRankTooLarge,
    AdapterStateError,
    PromotionRefused,
)
from training.config import ConfigError
from training.jobs import TrainingJobNotFound
from training.promotions import PromotionNotFound
from worker.webhooks import DeliveryNotFound, WebhookRefused
from workflows.catalog import UnknownWorkflowError
from workflows.loader import SpecError

log = logging.getLogger("forgeyard.api")

# Which status each domain error becomes; the message is the error's own.
# The first match wins: subclasses before their bases.
STATUS_OF: dict[type[Exception], int] = {
    AdapterNotFound: status.HTTP_404_NOT_FOUND,
    PromotionNotFound: status.HTTP_404_NOT_FOUND,
    AdapterStateError: status.HTTP_409_CONFLICT,
    PromotionRefused: status.HTTP_409_CONFLICT,
    AdapterRankTooLarge: status.HTTP_422_UNPROCESSABLE_CONTENT,
    TrainingError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    # The server refused the adapter's files: the candidate is unusable as it is.
    AdapterError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ModelServerError: status.HTTP_503_SERVICE_UNAVAILABLE,
    RunNotFound: status.HTTP_404_NOT_FOUND,
    CursorInvalid: status.HTTP_400_BAD_REQUEST,
    QueryInvalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    UnknownWorkflowError: status.HTTP_404_NOT_FOUND,
    RewardModelNotFound: status.HTTP_404_NOT_FOUND,
    TrainingJobNotFound: status.HTTP_404_NOT_FOUND,
    RunStateError: status.HTTP_409_CONFLICT,
    # The source run's pinned spec is gone: the request is fine, the run is not replayable.
    SpecMissing: status.HTTP_409_CONFLICT,
    ReplayInvalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    IdempotencyConflict: status.HTTP_409_CONFLICT,
    VersionConflict: status.HTTP_409_CONFLICT,
    InputInvalid: status.HTTP_422_UNPROCESSABLE_CONTENT,
    SpecError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    SpecNotAllowed: status.HTTP_422_UNPROCESSABLE_CONTENT,
    RewardSpecError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    DatasetError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    LabelError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ConfigError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    WebhookRefused: status.HTTP_422_UNPROCESSABLE_CONTENT,
    DeliveryNotFound: status.HTTP_404_NOT_FOUND,
}

# What each error answer means, as the OpenAPI document says it.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request: a body that is not JSON, a bad cursor or header.",
    401: "No API key, or an unknown, revoked or expired one.",
    403: "The key lacks the scope this operation needs (the message names it).",
    404: "No such resource for this tenant.",
    409: "The resource is not in a state that allows this (the message says which).",
    413: "The body is larger than the installation allows.",
    422: "A field is invalid; `problems` names each one.",
    503: "The database, broker or model server is unreachable; retry after `Retry-After`.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation that can answer with these error codes."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


# Every operation behind an API key: a missing/bad key, a missing scope, an
# unreachable database.  Each route adds the errors of its own (`errors(...)`).
AUTH_ERRORS = errors(401, 403, 503)
# Routers declare these; kept under the old name for the routers that use it.
ERROR_RESPONSES = AUTH_ERRORS
# The same 503, for routes that also call the model server.
UNAVAILABLE_RESPONSE = errors(503)
# An operation that takes a JSON body: malformed, too large, invalid.
BODY_ERRORS = errors(400, 413, 422)

# Errors meaning "that service cannot be reached right now", not "this request is wrong".
_DATABASE_DOWN = DATABASE_UNAVAILABLE
_BROKER_DOWN: tuple[type[Exception], ...] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def unavailable_service(exc: BaseException) -> str | None:
    """``"database"`` or ``"broker"`` when ``exc`` means it is unreachable; else None."""
    if isinstance(exc, _DATABASE_DOWN):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    if isinstance(exc, _BROKER_DOWN):
        return "broker"
    return None


def retry_after() -> dict[str, str]:
    """The header a 503 for an unreachable service carries."""
    return {"Retry-After": str(get_settings().retry_after_seconds)}


def error_response(
    code: int,
    detail: str,
    problems: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
    body: ErrorOut | None = None,
) -> JSONResponse:
    body = body or ErrorOut(detail=detail, problems=problems or [])
    return JSONResponse(jsonable_encoder(body), status_code=code, headers=headers)


def _problems(exc: Exception) -> list[Problem]:
    if isinstance(exc, InputInvalid | ReplayInvalid):
        return [Problem(field=p.field, message=p.message) for p in exc.problems]
    if isinstance(exc, QueryInvalid):
        return [Problem(field=exc.field, message=exc.reason)]
    if isinstance(exc, TrainingError) and exc.field is not None:
        return [Problem(field=exc.field, message=str(exc))]
    if isinstance(exc, SpecError | RewardSpecError):
        return [
            Problem(field=p.field or "<spec>", message=p.message, line=p.line) for p in exc.problems
        ]
    if isinstance(exc, ConfigError):
        return [Problem(field=name, message=message) for name, message in exc.problems.items()]
    if isinstance(exc, TrainingError):
        return [Problem(field=exc.field or "<request>", message=str(exc))]
    if isinstance(exc, WebhookRefused):
        return [Problem(field="webhook_url", message=str(exc))]
    return []


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    code = next(c for t, c in STATUS_OF.items() if isinstance(exc, t))
    detail = str(exc).split("\n", 1)[0] if _problems(exc) else str(exc)
    if isinstance(exc, ConfigError):
        detail = "Invalid training configuration: " + "; ".join(
            f"{name}: {message}" for name, message in exc.problems.items()
        )
    if isinstance(exc, UnknownWorkflowError | KeyError):
        detail = exc.args[0] if exc.args else str(exc)
    if isinstance(exc, PromotionRefused):
        refused = PromotionRefusedOut(detail=str(exc), problems=_problems(exc), gate=exc.decision)
        return error_response(code, str(exc), body=refused)
    return error_response(code, detail, _problems(exc))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        where = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (where.get("ctx") or {}).get("error", "not valid JSON")
        return error_response(status.HTTP_400_BAD_REQUEST, f"Malformed JSON body: {reason}")
    problems = [
        Problem(field=".".join(str(p) for p in e.get("loc", ())), message=_message(e))
        for e in errors
    ]
    first = problems[0] if problems else Problem(field="", message="invalid request")
    return error_response(
        status.HTTP_422_UNPROCESSABLE_CONTENT, f"{first.field}: {first.message}", problems
    )


def _message(error: Any) -> str:
    # Pydantic's "Extra inputs are not permitted" reads oddly for a query string.
    if error.get("type") == "extra_forbidden" and tuple(error.get("loc", ()))[:1] == ("query",):
        return "unknown query parameter (see the endpoint's parameters in /docs)"
    return str(error.get("msg", ""))


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    service = unavailable_service(exc)
    if service is None:  # e.g. a DBAPIError that is a bug, not an outage
        return await _unexpected(request, exc)
    log.warning(
        "%s %s: %s unreachable (%s)", request.method, request.url.path, service, type(exc).__name__
    )
    return error_response(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"The {service} is unreachable right now; try again in "
        f"{get_settings().retry_after_seconds} s (a submission retried with the same "
        "Idempotency-Key never makes a second run).",
        headers=retry_after(),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, f"internal error ({type(exc).__name__}); see the API log")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for error_type in STATUS_OF:
        app.add_exception_handler(error_type, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for error_type in (*_DATABASE_DOWN, *_BROKER_DOWN, sa_exc.DBAPIError):
        app.add_exception_handler(error_type, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
