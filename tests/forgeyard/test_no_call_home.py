"""No call-home: a full run opens no socket outside loopback; children get the offline switches."""

from __future__ import annotations

import json

import pytest

from agents.model_client import ModelClient
from agents.runner import execute_run, start_run
from forgeyard.models import RunStatus
from forgeyard.settings import OFFLINE_ENVIRONMENT, child_environment
from tests.support.network import guard_loopback
from workflows.catalog import EXAMPLES_DIR, resolve


def test_child_processes_get_every_offline_switch(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    env = child_environment(EXTRA="1")
    for key, value in OFFLINE_ENVIRONMENT.items():
        assert env[key] == value
    assert env["VLLM_NO_USAGE_STATS"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["EXTRA"] == "1"


@pytest.mark.integration
def test_full_run_connects_only_to_loopback(sqlite_db, model_server, monkeypatch):
    seen = guard_loopback(monkeypatch)
    request = json.loads((EXAMPLES_DIR / "logistics_booking/inputs/structured.json").read_text())
    run = start_run(resolve("logistics_booking"), request, config={"approval_threshold_usd": 10**9})
    run = execute_run(
        run.id, model=ModelClient(base_url=model_server.base_url, model=model_server.name)
    )
    assert run.status == RunStatus.succeeded, run.error
    # The run did talk to the model server, and only over loopback.
    assert any(isinstance(a, tuple) and a[1] == model_server.port for a in seen)
