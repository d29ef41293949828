"""API test fixtures: a client on a fresh database, tenants with keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.service import TenantClient, make_tenant, new_client, purge_queue


@pytest.fixture(scope="session", autouse=True)
def _clean_queue() -> Iterator[None]:
    yield
    purge_queue()


@pytest.fixture
def client(any_db):  # type: ignore[no-untyped-def]
    with new_client() as c:
        yield c


@pytest.fixture
def tenant_factory(client) -> Callable[..., TenantClient]:  # type: ignore[no-untyped-def]
    return lambda tenant_id=None: make_tenant(client, tenant_id)


@pytest.fixture
def tenant(tenant_factory) -> TenantClient:  # type: ignore[no-untyped-def]
    """A tenant with a key and the test spec `adder` registered."""
    t = tenant_factory()
    t.register()
    return t
