"""The OpenAPI document as SDK generators like it.

* ``operationId``: each route names its own (``submitRun``, ``getRun``); a route
  without one gets its function's name in camelCase, never FastAPI's
  ``submit_run_v1_workflows__name__runs_post``.
* Errors: each route lists the errors it can answer (``api.errors.errors``),
  every one an ``ErrorOut``.  FastAPI adds a 422 ``HTTPValidationError`` to
  every route with parameters; the app never sends that shape (its validation
  errors are ``ErrorOut``, ``api.errors``), and a route whose parameters cannot
  fail validation never sends a 422 at all, so that default is dropped.
* Examples: each body model's example (``api.examples``) as written: FastAPI
  drops every null from the document, examples included, which would make
  them invalid values of their models.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api import schemas

__all__ = ["install", "operation_id"]

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def operation_id(route: APIRoute) -> str:
    """A route's default operationId: its function's name in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(part.title() for part in rest)


def _drop_default_422(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            media = answer.get("content", {}).get("application/json", {})
            if media.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION:
                del operation["responses"]["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _restore_examples(schema: dict[str, Any]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    for name, component in components.items():
        model = getattr(schemas, name.removesuffix("-Input").removesuffix("-Output"), None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        extra = model.model_config.get("json_schema_extra")
        if isinstance(extra, dict) and "examples" in extra:
            component["examples"] = extra["examples"]


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the cleaned document (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _drop_default_422(schema)
            _restore_examples(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
