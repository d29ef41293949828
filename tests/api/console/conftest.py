"""Browser-test fixtures: the API (and console) served by uvicorn, a worker, headless Chromium.

The server and the worker are real processes on this test's database, this
session's Redis queue and the session's vLLM; the browser is Debian's
``chromium`` driven by Playwright (scripts/install.sh installs both), with the
flags that stop it from reaching the internet.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from forgeyard.settings import get_settings
from tests.support.service import purge_queue
from tests.worker.conftest import FAST, WorkerProcess

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The served API's base URL and the environment its processes share."""

    url: str
    env: dict[str, str]


@pytest.fixture
def stack(postgres_db: str, tmp_path: Path, model_server) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """uvicorn serving ``api.main:app`` and one worker, on this test's PostgreSQL database."""
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
        "FORGEYARD_MODEL_BASE_URL": model_server.base_url,
        "FORGEYARD_MODEL_NAME": model_server.name,
    }
    port = _free_port()
    log = (tmp_path / "api.log").open("wb")
    argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
    api = subprocess.Popen(
        [*argv, "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = WorkerProcess(tmp_path / "worker.log", env, beat=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "api.log").read_text(errors="replace")[-4000:])
            time.sleep(0.2)
        yield Stack(url, env)
    finally:
        worker.stop()
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=15)
        log.close()
        purge_queue()


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium page factory's browser (Playwright, the system's chromium)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install.sh (as root it installs it)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
