"""Worker test fixtures: real Celery worker processes on this test's database.

Each worker is `celery -A worker.app worker -P threads -c 32` (training: `-P solo`,
the pools `forgeyard worker` uses) in its own process group,
pointed at the test database (DATABASE_URL), this session's Redis database and
queue, with short leases and a fast sweeper so failures are noticed quickly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forgeyard.settings import get_settings
from tests.support.service import make_tenant, new_client, purge_queue

REPO = Path(__file__).resolve().parents[2]

FAST = {
    "FORGEYARD_LEASE_SECONDS": "2",
    "FORGEYARD_SWEEP_INTERVAL_SECONDS": "1",
    "FORGEYARD_REQUEUE_AFTER_SECONDS": "3",
    "FORGEYARD_WEBHOOK_BACKOFF_SECONDS": "0.2",
    # The tests' webhook receivers listen on loopback.
    "FORGEYARD_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1/32"]',
    "FORGEYARD_EVENTS_POLL_SECONDS": "0.1",
}


class WorkerProcess:
    """One worker process; its log goes to a file shown when a test fails."""

    def __init__(
        self, log_path: Path, env: dict[str, str], *, beat: bool, queues: str | None = None
    ) -> None:
        self.log_path = log_path
        settings = get_settings()
        queues = queues or settings.queue
        # The pools `forgeyard worker` defaults to: runs as threads (many at once),
        # training one job in one process.
        training = settings.training_queue in queues.split(",")
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.app",
            "worker",
            "-P",
            "solo" if training else settings.worker_pool,
            "--concurrency",
            "1" if training else str(settings.worker_concurrency),
            "--loglevel",
            "INFO",
            "-Q",
            queues,
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{log_path.stem}@%h",
        ]
        if beat:
            argv += ["-B", "--schedule", str(log_path.with_suffix(".beat"))]
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill9(self) -> None:
        """Kill the worker and its children at once, as a machine failure would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def worker_env(any_db: str, tmp_path: Path) -> dict[str, str]:
    """The environment of this test's worker processes: its database, Redis and queues."""
    settings = get_settings()
    return {
        **os.environ,
        **FAST,
        "DATABASE_URL": any_db,
        "PYTHONPATH": str(REPO),
        "FORGEYARD_DATA_DIR": str(tmp_path),
        "FORGEYARD_BROKER_URL": settings.broker_url,
        "FORGEYARD_QUEUE": settings.queue,
        "FORGEYARD_TRAINING_QUEUE": settings.training_queue,
    }


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path, request
) -> Iterator[Callable[..., WorkerProcess]]:  # type: ignore[no-untyped-def]
    """Start worker processes on this test's database; all are stopped afterwards."""
    purge_queue()
    workers: list[WorkerProcess] = []
    env = worker_env

    def start(beat: bool = True, queues: str | None = None, **extra_env: str) -> WorkerProcess:
        """A worker on the runs queue (or ``queues``, comma-separated names)."""
        worker = WorkerProcess(
            tmp_path / f"worker{len(workers) + 1}.log",
            {**env, **extra_env},
            beat=beat,
            queues=queues,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:  # noqa: SIM102
        for worker in workers:
            sys.stderr.write(f"--- {worker.log_path.name} ---\n{worker.output()}\n")
    purge_queue()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


@pytest.fixture
def fast_settings(monkeypatch):  # type: ignore[no-untyped-def]
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


@pytest.fixture
def client(any_db, fast_settings):  # type: ignore[no-untyped-def]
    with new_client() as c:
        yield c


@pytest.fixture
def tenant(client):  # type: ignore[no-untyped-def]
    t = make_tenant(client)
    t.register()
    return t
