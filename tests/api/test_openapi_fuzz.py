"""Schemathesis against the app's own OpenAPI document: whatever it sends, never a 5xx.

Requests carry a valid key of a tenant that has the test workflow registered
and one run, so generated calls get past authentication into the handlers.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.support.service import make_tenant, new_client

schema = schemathesis.openapi.from_asgi("/openapi.json", new_client().app)


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
