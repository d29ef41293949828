"""Two hosts, one site: workers in two network namespaces share PostgreSQL, Redis and vLLM.

The "hosts" are network namespaces with a veth pair each (tests/support/hosts.py);
the API and the sweeper (``forgeyard beat``) run here, on the root namespace, and
each host runs ``forgeyard worker --pool threads`` reaching this machine's
PostgreSQL, Redis and the session's real vLLM server (the tiny model; all three
listen on 127.0.0.1 and are forwarded onto each host's veth address by socat)
only through that address.  Twenty bookings are submitted over HTTP; both hosts
execute some.  Then host A is lost mid-run (its processes killed, its namespace
deleted): its leases expire, the sweeper sends its runs again, host B finishes
them from their checkpoints, and every booking is made exactly once.

Which host ran a run is read from two records: each worker's log line
``run <id> (...): executing as <hostname>:<pid>:<tag>`` (the lease owner), and,
for a run taken over, the ``abandoned`` step the new holder writes, naming both
owners.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import col, select

from forgeyard.db import session_scope
from forgeyard.models import Effect, Run, Step, StepStatus
from forgeyard.settings import get_settings
from forgeyard.tenants import create_key, create_tenant
from serving.server import free_port
from tests.support import hosts
from tests.support.service import purge_queue, wait_for
from tests.worker.conftest import FAST
from workflows.catalog import EXAMPLES_DIR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(hosts.missing() is not None, reason=f"no hosts: {hosts.missing()}"),
]

REPO = Path(__file__).resolve().parents[2]
BOOKINGS = 20
EXECUTING = re.compile(r"run ([0-9a-f]{32}) \([^)]*\): executing as (\S+?):\d+:[0-9a-f]+")


def owners_in(log: Path) -> dict[str, set[str]]:
    """run id → hostnames that started executing it, from a worker's log."""
    seen: dict[str, set[str]] = {}
    for run_id, hostname in EXECUTING.findall(log.read_text(errors="replace")):
        seen.setdefault(run_id, set()).add(hostname)
    return seen


@pytest.fixture
def api(postgres_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API on 127.0.0.1 (this "machine"), on the test's database and queue."""
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    from api.main import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _healthy(url), timeout=60, what="the API")
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def site(tmp_path: Path) -> Iterator[list[hosts.Host]]:
    """Two hosts, always destroyed afterwards (even when the test fails)."""
    made: list[hosts.Host] = []
    try:
        made.append(hosts.Host("a", tmp_path))
        made.append(hosts.Host("b", tmp_path))
        yield made
    finally:
        for host in made:
            host.destroy()
        purge_queue()


def host_env(host: hosts.Host, database_url: str, model_url: str, data_dir: Path) -> dict[str, str]:
    """What a worker on another machine is given: database, broker, model, its own data dir."""
    settings = get_settings()
    return {
        **os.environ,
        **FAST,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": hosts.forward_url(database_url, host),
        "FORGEYARD_BROKER_URL": hosts.forward_url(settings.broker_url, host),
        "FORGEYARD_MODEL_BASE_URL": hosts.forward_url(model_url, host),
        "FORGEYARD_MODEL_NAME": settings.model_name,
        "FORGEYARD_QUEUE": settings.queue,
        "FORGEYARD_TRAINING_QUEUE": settings.training_queue,
        "FORGEYARD_DATA_DIR": str(data_dir),
    }


def test_bookings_run_on_two_hosts_and_survive_losing_one(
    api: str, postgres_db: str, model_server, site: list[hosts.Host], tmp_path: Path
) -> None:
    purge_queue()
    settings = get_settings()
    assert model_server.name == settings.model_name
    worker = [sys.executable, "-m", "forgeyard", "worker", "--pool", "threads", "--concurrency"]
    logs = {}
    for host in site:
        env = host_env(host, postgres_db, model_server.base_url, tmp_path / host.hostname)
        logs[host.hostname] = tmp_path / f"{host.hostname}.log"
        host.spawn([*worker, "3"], env, logs[host.hostname].name, cwd=REPO)
    # The site's one sweeper, on this machine beside the API.
    beat_log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen(
        [sys.executable, "-m", "forgeyard", "beat"],
        cwd=REPO,
        env={**os.environ, **FAST, "PYTHONPATH": str(REPO), "FORGEYARD_DATA_DIR": str(tmp_path)},
        stdout=beat_log,
        stderr=subprocess.STDOUT,
    )
    try:
        _run_the_site(api, site, logs)
    except BaseException:
        for name, log in logs.items():
            sys.stderr.write(f"--- {name} ---\n{log.read_text(errors='replace')[-5000:]}\n")
        raise
    finally:
        beat.kill()
        beat.wait(timeout=10)
        beat_log.close()


def _run_the_site(api: str, site: list[hosts.Host], logs: dict[str, Path]) -> None:
    host_a, host_b = site
    for log in logs.values():
        wait_for(lambda log=log: " ready." in log.read_text(errors="replace"), 180, "a worker")

    tenant = create_tenant("two-hosts")
    key = create_key(tenant.id, "two-hosts")
    request = json.loads((EXAMPLES_DIR / "logistics_booking/inputs/structured.json").read_text())
    body = {"input": request, "config": {"approval_threshold_usd": 10**9}}
    run_ids = []
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key.token}"}) as http:
        for _ in range(BOOKINGS):
            response = http.post("/v1/workflows/logistics_booking/runs", json=body, timeout=30)
            assert response.status_code == 202, response.text
            run_ids.append(response.json()["id"])

    def executed_by(host: hosts.Host) -> set[str]:
        return {
            run for run, names in owners_in(logs[host.hostname]).items() if host.hostname in names
        }

    def held_by_a() -> list[str]:
        # Unfinished runs host A holds a lease on right now.
        with session_scope() as session:
            return list(
                session.exec(
                    select(Run.id).where(
                        col(Run.id).in_(run_ids),
                        col(Run.status).in_(["queued", "running"]),
                        col(Run.lease_owner).startswith(f"{host_a.hostname}:"),
                    )
                )
            )

    # Both hosts at work, and host A in the middle of at least one run: lose host A.
    wait_for(
        lambda: executed_by(host_b) and executed_by(host_a) and held_by_a(),
        timeout=300,
        what="runs on both hosts with one in flight on host A",
    )
    host_a.destroy()
    assert not host_a.alive
    orphaned = set(held_by_a())  # nothing on host A can change them any more
    assert orphaned, "host A finished its runs before it was lost: nothing taken over"
    ran_on_a = executed_by(host_a)

    def finished() -> bool:
        with session_scope() as session:
            statuses = session.exec(select(Run.status).where(col(Run.id).in_(run_ids))).all()
        return all(status.finished for status in statuses)

    wait_for(finished, timeout=300, what="every booking to finish")

    with session_scope() as session:
        runs = {run.id: run for run in session.exec(select(Run).where(col(Run.id).in_(run_ids)))}
        effects = list(session.exec(select(Effect).where(col(Effect.run_id).in_(run_ids))))
        abandoned = {
            step.run_id: step
            for step in session.exec(
                select(Step).where(
                    col(Step.run_id).in_(orphaned), Step.status == StepStatus.abandoned
                )
            )
        }
    assert {run.status.value for run in runs.values()} == {"succeeded"}, [
        run.error for run in runs.values() if run.error
    ]
    # Exactly one booking per run, the lost host's included.
    booked = sorted(effect.run_id for effect in effects if effect.tool == "logistics.book")
    assert booked == sorted(run_ids)
    assert all(effect.status.value == "done" for effect in effects)

    # Runs executed on both hosts; host A's unfinished ones were finished by host B.
    ran_on_b = executed_by(host_b)
    assert ran_on_a and ran_on_b
    assert ran_on_a | ran_on_b == set(run_ids)
    assert orphaned <= ran_on_a & ran_on_b
    assert set(abandoned) == orphaned
    for step in abandoned.values():
        assert f"worker {host_a.hostname}:" in (step.error or "")
        assert f"taken over by {host_b.hostname}:" in (step.error or "")
