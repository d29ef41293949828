"""A PostgreSQL outage: every answer meanwhile is a 503 with Retry-After, and the API recovers.

The database is a private cluster this module creates on a port of its own
(`pg_createcluster`), so stopping it touches nobody else's server.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from forgeyard import db
from forgeyard.settings import get_settings
from tests.support.service import make_tenant, new_client

pytestmark = pytest.mark.integration

VERSION = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ctl(name: str, action: str) -> None:
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            VERSION,
            name,
            action,
            *(["-m", "fast"] if action == "stop" else []),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, int]]:
    """A PostgreSQL cluster of our own, trust authentication on loopback; dropped afterwards."""
    name, port = f"fyoutage{uuid.uuid4().hex[:6]}", _free_port()
    subprocess.run(
        ["pg_createcluster", VERSION, name, "-p", str(port)], check=True, capture_output=True
    )
    try:
        Path(f"/etc/postgresql/{VERSION}/{name}/pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        )
        _ctl(name, "start")
        yield name, port
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", VERSION, name], check=False, capture_output=True
        )


@pytest.fixture
def outage_db(cluster, monkeypatch, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name, port = cluster
    database = f"forgeyard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade(url)
    yield name
    if not _up(port):  # a failed test leaves the cluster running for the next one
        _ctl(name, "start")
    db.get_engine().dispose()
    db.get_engine.cache_clear()
    get_settings.cache_clear()


def _up(port: int) -> bool:
    try:
        psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2
        ).close()
        return True
    except psycopg.OperationalError:
        return False


def test_requests_during_an_outage_are_503_with_retry_after_then_succeed(outage_db):
    with new_client() as client:
        tenant = make_tenant(client)
        tenant.register()
        run_id = tenant.submit({"a": 1})["id"]
        requests = [
            ("GET", "/v1/runs"),
            ("GET", f"/v1/runs/{run_id}"),
            ("GET", f"/v1/runs/{run_id}/steps"),
            ("GET", "/v1/workflows"),
            ("POST", "/v1/workflows/adder/runs"),
            ("POST", f"/v1/runs/{run_id}/cancel"),
        ]

        def send(method: str, url: str):  # type: ignore[no-untyped-def]
            body = (
                {"json": {"input": {"a": 2}}} if url.endswith("/runs") and method == "POST" else {}
            )
            if method == "GET":
                return tenant.get(url)
            return tenant.post(url, **body)

        _ctl(outage_db, "stop")
        for method, url in requests:
            response = send(method, url)
            assert response.status_code == 503, (method, url, response.text)
            assert response.headers["Retry-After"] == "5"
            assert "database is unreachable" in response.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
        assert ready.json()["ready"] is False and not ready.json()["checks"]["database"]["ok"]

        _ctl(outage_db, "start")
        # The same client, no restart: pooled connections are pinged and replaced.
        assert client.get("/readyz").json()["checks"]["database"]["ok"] is True
        assert tenant.get(f"/v1/runs/{run_id}").status_code == 200
        assert tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 2}}).status_code == 202
        assert tenant.post(f"/v1/runs/{run_id}/cancel").status_code == 200


def test_what_counts_as_unreachable():
    import kombu.exceptions
    import redis.exceptions
    from sqlalchemy import exc as sa_exc

    from api.errors import unavailable_service

    refused = sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert unavailable_service(refused) == "database"
    assert unavailable_service(psycopg.OperationalError("server closed the connection")) == (
        "database"
    )
    assert unavailable_service(kombu.exceptions.OperationalError("no broker")) == "broker"
    assert unavailable_service(redis.exceptions.ConnectionError("refused")) == "broker"
    # A constraint violation is a bug or a 4xx elsewhere, never "try again later".
    assert unavailable_service(sa_exc.IntegrityError("INSERT", {}, Exception("dup"))) is None
    dropped = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert unavailable_service(dropped) == "database"
    assert unavailable_service(ValueError("x")) is None
