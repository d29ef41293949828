"""Schemathesis against the app's own OpenAPI document: whatever it sends, never a 5xx.

Requests carry a valid key of a tenant that has the test workflow registered
and one run, so generated calls get past authentication into the handlers.
Generation is set explicitly to both modes (valid data and negative data
that breaks the schema) with NUL characters allowed; since schemathesis only
draws strings its codec can encode, every body-taking operation is also sent
lone surrogates and NULs by hand and must refuse them with a 4xx, storing nothing.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from sqlalchemy import func
from sqlmodel import SQLModel, select

from forgeyard.db import session_scope
from tests.support.service import make_tenant, new_client

CONFIG = SchemathesisConfig.from_dict(
    {"generation": {"mode": "all", "allow-x00": True, "max-examples": 30}}
)
APP = new_client().app
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture
def auth_headers(sqlite_db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with new_client() as client:
        tenant = make_tenant(client, "fuzz")
        tenant.register()
        tenant.submit({"a": 1})
    return tenant.headers


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(case, auth_headers):  # type: ignore[no-untyped-def]
    case.call_and_validate(
        headers={**(case.headers or {}), **auth_headers}, checks=[not_a_server_error]
    )


def _body_operations() -> list[tuple[str, str]]:
    document = APP.openapi()
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    )


def _rows() -> dict[str, int]:
    with session_scope() as session:
        return {
            name: int(session.exec(select(func.count()).select_from(table)).one())
            for name, table in SQLModel.metadata.tables.items()
        }


HOSTILE_BODIES = [
    '{"input": {"a": "\\ud800"}, "yaml": "\\udfff", "name": "\\ud800"}',
    '{"input": {"a": "x\\u0000"}, "yaml": "a\\u0000", "name": "n\\u0000"}',
    '{"\\ud800": 1}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=["surrogate", "nul", "surrogate-key"])
def test_every_body_taking_operation_refuses_surrogates_and_nul(auth_headers, body):  # type: ignore[no-untyped-def]
    """A 422 from each operation that takes a JSON body, and no row written anywhere."""
    operations = _body_operations()
    assert len(operations) >= 8  # the document lists the API's writes, not a stub
    before = _rows()
    with new_client() as client:
        for method, path in operations:
            url = re.sub(r"\{[^}]+\}", "x", path)
            response = client.request(
                method,
                url,
                content=body.encode(),
                headers={**auth_headers, "Content-Type": "application/json"},
            )
            # The body is refused before routing finds the run or workflow is missing.
            assert response.status_code == 422, (method, path, response.text)
    assert _rows() == before  # nothing stored by any of them
