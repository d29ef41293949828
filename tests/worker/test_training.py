"""GRPO training jobs on a real training worker (Celery + Redis) with the real trainer and the
tiny model: a short job end to end, and a job whose worker is killed mid-way.

Slow (the tiny model trains on CPU): marked ``slow``; SQLite only, as the job layer's SQL is
covered on PostgreSQL by tests/training/test_jobs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.records.training import AdapterRecord
from forgeyard.settings import get_settings
from tests.support.service import wait_for
from tests.support.training import shipped_reward_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("any_db", ["sqlite"], indirect=True),
]

# As small as GRPO gets: two tasks a step, two answers each.
SMALL = {"prompts_per_step": 2, "num_generations": 2, "use_vllm": False, "task_pool": 60}


def _adapters() -> list[AdapterRecord]:
    with session_scope() as session:
        return list(session.exec(select(AdapterRecord)))


def _start(tenant: Any, tiny_model_dir: Path, **config: Any) -> dict[str, Any]:
    reward = shipped_reward_model(tenant.id)
    body = {"reward_model": reward.id, "base_model": str(tiny_model_dir), **SMALL, **config}
    response = tenant.post("/v1/training-jobs", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def _finished(tenant: Any, url: str, timeout: float) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (j := tenant.get(url).json())["status"] in ("succeeded", "failed") and j,
            timeout=timeout,
            what="the training job",
        )
    )


def _assert_loadable(adapter: AdapterRecord, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, adapter.path)
    assert model.peft_config["default"].r == adapter.rank


def test_a_short_job_on_a_training_worker(any_db, tenant, start_worker, tiny_model_dir):  # type: ignore[no-untyped-def]
    start_worker(beat=False, queues=get_settings().training_queue)
    job = _start(tenant, tiny_model_dir, max_steps=2, save_steps=1)
    done = _finished(tenant, job["links"]["self"], timeout=400)
    assert done["status"] == "succeeded", done["error"]
    assert (done["step"], done["attempts"]) == (2, 1)
    metrics = tenant.get(job["links"]["metrics"]).json()
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["reward_mean"] is not None for m in metrics)
    plot = Path(done["summary"]["plot"])
    assert plot.read_bytes().startswith(b"\x89PNG")
    (adapter,) = _adapters()
    assert (adapter.id, adapter.status, adapter.training_job_id) == (
        done["adapter_id"],
        "candidate",
        job["id"],
    )
    _assert_loadable(adapter, tiny_model_dir)


def test_a_killed_job_resumes_from_its_checkpoint(any_db, tenant, start_worker, tiny_model_dir):  # type: ignore[no-untyped-def]
    queue = get_settings().training_queue
    first = start_worker(beat=False, queues=queue)
    job = _start(tenant, tiny_model_dir, max_steps=4, save_steps=1)
    url = job["links"]["self"]
    checkpoints = Path(job["config"]["output_dir"]) / "checkpoints"
    wait_for(
        lambda: tenant.get(url).json()["step"] >= 2 and any(checkpoints.glob("checkpoint-*")),
        timeout=400,
        what="a checkpoint",
    )
    first.kill9()
    assert tenant.get(url).json()["status"] == "running" and _adapters() == []
    # A new worker with the sweeper: the job's lease expires, it is queued again.
    start_worker(beat=True, queues=f"{get_settings().queue},{queue}")
    done = _finished(tenant, url, timeout=400)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["summary"]["resumed_from_step"]
    steps = [m["step"] for m in tenant.get(job["links"]["metrics"]).json()]
    assert steps == [1, 2, 3, 4]
    (adapter,) = _adapters()
    assert adapter.id == done["adapter_id"]
    _assert_loadable(adapter, tiny_model_dir)
