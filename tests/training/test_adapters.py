"""The adapter registry against the real vLLM: the gate, promotion, per-tenant serving, rollback.

Candidates are written as rows here (the job layer writes them after training).
The better candidate is a GRPO-trained adapter (``tests/support/adapters.py``);
the worse one is the random-weight ``tiny_lora_adapter_dir``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from agents.runner import execute_run, start_run
from agents.trace import load_trace
from forgeyard.db import session_scope
from forgeyard.records.training import AdapterRecord, AdapterStatus
from forgeyard.settings import get_settings
from serving.server import ModelServer
from tests.support.adapters import (
    GATE_HELD_OUT,
    NODE,
    WORKFLOW,
    candidate,
    reward_model_id,
    train_choose_adapter,
)
from training import TrainingError
from training.adapters import (
    REGISTRY,
    AdapterRankTooLarge,
    AdapterStateError,
    PromotionRefused,
    active_adapters,
    get_adapter,
    promote,
    rollback,
    sync_active_adapters,
)
from training.envs import LOGISTICS_SPEC, ChooseEnv
from workflows.loader import load_spec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def better_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA trained with GRPO on ``choose`` (training tasks, never the held-out ones)."""
    return train_choose_adapter(tiny_model_dir, tmp_path_factory.mktemp("choose-lora"))


@pytest.fixture
def served(
    sqlite_db: str, model_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModelServer]:
    """The settings point at the session's vLLM; adapters a test loaded are unloaded after."""
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", model_server.base_url)
    monkeypatch.setenv("FORGEYARD_MODEL_NAME", model_server.name)
    get_settings.cache_clear()
    yield model_server
    for name in model_server.served_models():
        if name.startswith("adapter-"):
            model_server.unload_adapter(name)


def choose_steps(tenant: str) -> list[Any]:
    """Run logistics_booking for ``tenant`` on a choosable task; its ``choose`` steps."""
    task = ChooseEnv(task_pool=20, task_seed=5).tasks[0]
    run = start_run(load_spec(LOGISTICS_SPEC), task.input, tenant_id=tenant)
    execute_run(run.id, adapter_source=REGISTRY)
    steps = [s for s in load_trace(run.id) if s.node == NODE]
    assert steps and steps[-1].status.value == "ok", [(s.node, s.error) for s in steps]
    return steps


def test_gate_refuses_a_candidate_that_is_not_better(served, tiny_lora_adapter_dir):
    record = candidate("acme", tiny_lora_adapter_dir)
    with pytest.raises(PromotionRefused, match="was not promoted") as refused:
        promote(record.id, tenant_id="acme")
    gate = refused.value.decision
    assert gate["passed"] is False
    assert gate["ci_low"] <= gate["margin"] == 0.0
    assert gate["current"] == served.name and gate["tasks"] >= 10
    stored = get_adapter(record.id)
    assert stored.status == AdapterStatus.candidate
    assert stored.gate == gate
    assert record.served_name not in served.served_models()


def test_promotion_serves_that_tenant_only_and_rollback_restores(served, better_adapter_dir):
    first = candidate("acme", better_adapter_dir)
    # The real gate, default margin 0, on the bench's held-out tasks.
    tasks, seed = GATE_HELD_OUT
    promoted = promote(first.id, tenant_id="acme", held_out=tasks, held_out_seed=seed)

    gate = promoted.gate
    assert promoted.status == AdapterStatus.active and gate is not None and gate["passed"]
    assert gate["margin"] == 0.0 and gate["ci_low"] > 0.0 and gate["tasks"] >= 100
    assert gate["mean_reward"]["candidate"] > gate["mean_reward"]["current"]
    assert gate["current"] == served.name
    assert gate["hack_pass_rate"]["candidate"] >= gate["hack_pass_rate"]["current"]
    assert first.served_name in served.served_models()
    assert active_adapters("acme", WORKFLOW) == {NODE: first.served_name}
    assert active_adapters("globex", WORKFLOW) == {}

    acme, globex = choose_steps("acme")[-1], choose_steps("globex")[-1]
    assert (acme.adapter, acme.model) == (first.served_name, first.served_name)
    assert (globex.adapter, globex.model) == (None, served.name)
    other_nodes = [s for s in load_trace(acme.run_id) if s.node != NODE]
    assert all(s.adapter is None for s in other_nodes)

    # A second promotion replaces the first. It has the same weights, so no gate
    # would pass it; a margin of -1 admits it to test replacement alone ...
    second = candidate("acme", better_adapter_dir)
    with pytest.raises(AdapterStateError, match="only a candidate"):
        promote(first.id, tenant_id="acme")
    now = promote(second.id, tenant_id="acme", margin=-1.0)
    assert now.previous_adapter_id == first.id
    assert get_adapter(first.id).status == AdapterStatus.retired
    assert first.served_name not in served.served_models()
    assert choose_steps("acme")[-1].adapter == second.served_name

    # ... rolling it back makes the first active (and served) again ...
    retired, active = rollback(second.id, tenant_id="acme")
    assert retired.status == AdapterStatus.retired and active is not None
    assert active.id == first.id and active.status == AdapterStatus.active
    assert second.served_name not in served.served_models()
    assert choose_steps("acme")[-1].adapter == first.served_name

    # ... and rolling that back leaves the base model answering.
    retired, active = rollback(first.id, tenant_id="acme")
    assert active is None and active_adapters("acme", WORKFLOW) == {}
    step = choose_steps("acme")[-1]
    assert (step.adapter, step.model) == (None, served.name)
    with pytest.raises(AdapterStateError, match="only the active adapter"):
        rollback(first.id, tenant_id="acme")


def test_rank_above_the_servers_is_refused_before_loading(served, better_adapter_dir, tmp_path):
    record = candidate("acme", better_adapter_dir, rank=16)
    with pytest.raises(AdapterRankTooLarge, match=r"rank 16 .* at most 8.*--max-lora-rank") as err:
        promote(record.id, tenant_id="acme")
    assert err.value.field == "rank"
    assert get_adapter(record.id).status == AdapterStatus.candidate
    assert record.served_name not in served.served_models()


def test_unknown_node_and_other_tenants_reward_model_are_refused(served, better_adapter_dir):
    record = candidate("acme", better_adapter_dir, node="confirm")
    with pytest.raises(TrainingError, match="No training environment") as err:
        promote(record.id, tenant_id="acme")
    assert err.value.field == "node"
    foreign = candidate("acme", better_adapter_dir)
    with session_scope() as session:
        row = session.get(AdapterRecord, foreign.id)
        assert row is not None
        row.reward_model_id = reward_model_id("globex")
    with pytest.raises(TrainingError, match="reward model") as err:
        promote(foreign.id, tenant_id="acme")
    assert err.value.field == "reward_model_id"
    assert foreign.served_name not in served.served_models()


def test_a_restarted_server_gets_active_adapters_back(served, better_adapter_dir, tmp_path):
    # Two active adapters (two tenants), as the registry holds them after promotions.
    copy = Path(shutil.copytree(better_adapter_dir, tmp_path / "copy"))
    a = candidate("acme", better_adapter_dir, status=AdapterStatus.active)
    b = candidate("globex", copy, status=AdapterStatus.active)
    # A fresh server holds neither: sync loads both, once.
    assert sorted(sync_active_adapters(served.base_url)) == sorted([a.served_name, b.served_name])
    assert {a.served_name, b.served_name} <= set(served.served_models())
    assert sync_active_adapters(served.base_url) == []

    # Lost again (restart without sync): the tenant's next run loads it itself and retries.
    served.unload_adapter(a.served_name)
    assert choose_steps("acme")[-1].adapter == a.served_name
    assert a.served_name in served.served_models()


def test_the_database_refuses_a_second_active_adapter(any_db, tmp_path):
    candidate("acme", tmp_path, status=AdapterStatus.active)
    candidate("acme", tmp_path, status=AdapterStatus.retired)
    with pytest.raises(IntegrityError):
        candidate("acme", tmp_path, status=AdapterStatus.active)
