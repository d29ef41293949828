"""The OpenAPI document as an SDK generator needs it: names, examples, errors, events."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel

from api import schemas
from api.main import create_app

DOCUMENT = create_app().openapi()
COMPONENTS = DOCUMENT["components"]["schemas"]
OPERATIONS = [
    (method, path, operation)
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]
PUBLIC = {"checkHealth", "checkReadiness", "getMetrics"}
# A 422 that is the domain's, not a parameter's: the webhook's host is no longer
# allowed; the adapter's rank exceeds the server's or its files are refused.
DOMAIN_422 = {"redeliverWebhook", "promoteAdapter"}
ERROR_MODELS = {"#/components/schemas/ErrorOut", "#/components/schemas/PromotionRefusedOut"}


def _ids(items: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{method.upper()} {path}" for method, path, _ in items]


def _resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The component a body's schema names (through an array), and its name."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return COMPONENTS[name], name
    if schema.get("type") == "array":
        return _resolve(schema.get("items", {}))
    return schema, None


def test_every_operation_has_a_readable_unique_operation_id():
    ids = [op.get("operationId", "") for _, _, op in OPERATIONS]
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9]*", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    by_route = {f"{m.upper()} {p}": op["operationId"] for m, p, op in OPERATIONS}
    assert {
        "POST /v1/workflows/{name}/runs": "submitRun",
        "GET /v1/runs/{run_id}": "getRun",
        "GET /v1/runs": "listRuns",
        "GET /v1/runs/{run_id}/wait": "waitRun",
        "POST /v1/runs/{run_id}/approve": "approveRun",
        "POST /v1/runs/{run_id}/reject": "rejectRun",
        "GET /v1/runs/{run_id}/events": "streamRunEvents",
        "GET /v1/runs/{run_id}/webhooks": "listWebhookDeliveries",
        "POST /v1/runs/{run_id}/webhooks/{delivery_id}/redeliver": "redeliverWebhook",
    }.items() <= by_route.items()


def _bodies(operation: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        ("request", media_type, media)
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
    ]
    for code, answer in operation["responses"].items():
        found += [(code, t, media) for t, media in answer.get("content", {}).items()]
    return found


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=_ids(OPERATIONS))
def test_every_request_and_response_body_has_an_example(method, path, operation):
    for where, media_type, media in _bodies(operation):
        if media_type.startswith("image/"):
            continue  # a PNG has no textual example
        if "example" in media or "examples" in media:
            continue
        component, name = _resolve(media.get("schema", {}))
        assert component.get("examples"), f"{method} {path} {where} {media_type}: no example"


@pytest.mark.parametrize("name", sorted(n for n, c in COMPONENTS.items() if c.get("examples")))
def test_each_example_is_a_valid_value_of_its_model(name):
    model = getattr(schemas, name.removesuffix("-Input").removesuffix("-Output"))
    assert isinstance(model, type) and issubclass(model, BaseModel)
    for value in COMPONENTS[name]["examples"]:
        model.model_validate(value)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=_ids(OPERATIONS))
def test_each_operation_lists_only_the_errors_it_can_return(method, path, operation):
    errors = {int(c): a for c, a in operation["responses"].items() if int(c) >= 400}
    for code, answer in errors.items():
        assert answer.get("description"), (code, answer)
        if code != 503 or operation["operationId"] not in PUBLIC:
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert ref in ERROR_MODELS, (code, ref)
    has_body = "requestBody" in operation
    params = {p["name"]: p for p in operation.get("parameters", [])}
    if operation["operationId"] in PUBLIC:
        assert not {401, 403} & errors.keys()
    else:
        assert {401, 403, 503} <= errors.keys()
    if has_body:
        assert {400, 413, 422} <= errors.keys()
    else:
        assert 413 not in errors
        # Without a body, a 400 comes only from a cursor or a Last-Event-ID.
        assert (400 in errors) == bool({"cursor", "last-event-id"} & params.keys())
    if any(p["in"] == "path" for p in params.values()):
        assert 404 in errors
    validated = [p for p in params.values() if p["schema"].get("type") != "string"]
    if not has_body and 422 in errors and operation["operationId"] not in DOMAIN_422:
        assert validated or "anyOf" in str(params) or "enum" in str(params), (
            "a 422 is listed, but no parameter can fail validation"
        )


def test_no_operation_carries_fastapi_s_validation_error_shape():
    assert "HTTPValidationError" not in COMPONENTS
    assert "HTTPValidationError" not in str(DOCUMENT["paths"])


def test_the_event_stream_s_payloads_are_described():
    media = DOCUMENT["paths"]["/v1/runs/{run_id}/events"]["get"]["responses"]["200"]["content"][
        "text/event-stream"
    ]
    events = {v["properties"]["event"]["const"]: v for v in media["x-item-schema"]["oneOf"]}
    assert set(events) == {"step", "run", "unavailable"}
    assert events["step"]["properties"]["data"] == {"$ref": "#/components/schemas/StepOut"}
    assert "Last-Event-ID" in events["step"]["description"]
    assert "event: step" in media["example"]
