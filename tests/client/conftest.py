"""Client-test fixtures: the real API (uvicorn) and a real worker on this test's database.

Everything the client does goes over a socket to ``api.main:app`` served by
uvicorn, and a Celery worker process executes the runs; a local receiver takes
the webhooks, which are signed with a ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from forgeyard.settings import get_settings
from forgeyard.tenants import create_key, create_tenant
from tests.support import service  # noqa: F401  (points this session at its own queue)
from tests.support.served import served_api
from tests.support.service import purge_queue
from tests.support.specs import spec_yaml
from tests.worker.conftest import FAST, WorkerProcess
from tests.worker.test_recovery import napper_yaml

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"client-tests-" + uuid.uuid4().bytes).decode()


@dataclass
class Receiver:
    """A webhook receiver on loopback; answers ``codes`` in turn (then 204)."""

    codes: list[int] = field(default_factory=list)
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                code = receiver.codes.pop(0) if receiver.codes else 204
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    url: str
    key: str
    tenant_id: str


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def stack(postgres_db: str, tmp_path: Path) -> Iterator[Stack]:
    """uvicorn serving the API and one worker, on this test's PostgreSQL database."""
    purge_queue()
    settings = get_settings()
    env = {
        **os.environ,
        **FAST,
        "DATABASE_URL": postgres_db,
        "PYTHONPATH": str(REPO),
        "FORGEYARD_DATA_DIR": str(tmp_path),
        "FORGEYARD_BROKER_URL": settings.broker_url,
        "FORGEYARD_QUEUE": settings.queue,
        "FORGEYARD_TRAINING_QUEUE": settings.training_queue,
        "FORGEYARD_WEBHOOK_SECRET": SECRET,
        "FORGEYARD_RUN_WAIT_MAX_SECONDS": "20",
    }
    tenant = create_tenant(f"t-{uuid.uuid4().hex[:8]}")
    key = create_key(tenant.id, "ops@client-tests")
    worker = WorkerProcess(tmp_path / "worker.log", env, beat=True)
    try:
        with served_api(env, tmp_path / "api.log") as url:
            for text in (spec_yaml(), napper_yaml()):
                registered = httpx.post(
                    f"{url}/v1/workflows",
                    json={"yaml": text},
                    headers={"Authorization": f"Bearer {key.token}"},
                )
                assert registered.status_code in (200, 201), registered.text
            yield Stack(url, key.token, tenant.id)
    finally:
        worker.stop()
        purge_queue()
