"""Example bodies for the OpenAPI document: one per request and response model.

Each is a plausible value of its model (``tests/api/test_openapi_document.py``
validates every one against it), drawn from the test workflow `adder` and the
logistics example, so an SDK generator or a reader of /docs sees real shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["example"]

M = TypeVar("M", bound=type[BaseModel])

RUN_ID = "3f2a9c1e5b7d4e0f8a6b2c4d1e3f5a7b"
T0 = "2026-12-01T09:30:00Z"
T1 = "2026-12-01T09:30:04.250000Z"
HASH = "9d5ed678fe57bcca610140957afab571c6a1d6ab0c5c2b8e1d3d1f1e4b2a6c7d"


def example(value: dict[str, Any]) -> Callable[[M], M]:
    """Give a model ``value`` as its OpenAPI example (``examples`` in its JSON Schema)."""

    def apply(model: M) -> M:
        model.model_config["json_schema_extra"] = {"examples": [value]}
        model.model_rebuild(force=True)
        return model

    return apply


PROBLEM = {"field": "input.a", "message": "'a' is a required property", "line": None}
ERROR = {"detail": "input.a: 'a' is a required property", "problems": [PROBLEM]}
PROMOTION_REFUSED = {
    "detail": "Adapter `a1b2` was not promoted: the 95% interval [-0.02, 0.05] includes zero.",
    "problems": [],
    "gate": {"passed": False, "reason": "interval includes zero", "ci_low": -0.02, "ci_high": 0.05},
}
PROMOTION = {
    "id": "7e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b",
    "adapter_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "status": "succeeded",
    "message": "promoted: it beat the base model",
    "gate": {"passed": True, "reason": "the 95% interval [0.04, 0.11] is above zero"},
    "error": None,
    "error_field": None,
    "refused": False,
    "attempts": 1,
    "created_at": T0,
    "started_at": T0,
    "finished_at": T1,
    "links": {
        "self": "/v1/promotions/7e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b",
        "adapter": "/v1/adapters/a1b2c3d4e5f60718293a4b5c6d7e8f90",
    },
}
RUN_CREATE = {
    "input": {"a": 7, "b": 0},
    "config": {"limit": 10},
    "webhook_url": "https://hooks.acme.example/forgeyard",
}
DECISION = {"comment": "Checked the quote with the shipper: fine."}
WEBHOOK_DELIVERY = {
    "id": "msg_5c1f0e2d9a8b4c7d6e5f4a3b2c1d0e9f",
    "event": "run.waiting_approval",
    "status": "delivered",
    "attempts": 2,
    "redeliveries": 0,
    "last_status_code": 204,
    "last_error": None,
    "last_attempt_at": "2026-12-01T09:30:03Z",
    "delivered_at": "2026-12-01T09:30:03Z",
    "created_at": "2026-12-01T09:30:01Z",
    "payload": {
        "type": "run.waiting_approval",
        "timestamp": "2026-12-01T09:30:01Z",
        "data": {
            "id": RUN_ID,
            "workflow": "adder",
            "status": "waiting_approval",
            "pending_approval": {"node": "gate", "message": "Pay 7?"},
            "links": {"self": f"/v1/runs/{RUN_ID}"},
        },
    },
}
_BASE = f"/v1/runs/{RUN_ID}"
RUN = {
    "id": RUN_ID,
    "workflow": "adder",
    "workflow_version": "1",
    "spec_hash": HASH,
    "status": "waiting_approval",
    "idempotency_key": "order-4711",
    "input": {"a": 7, "b": 0},
    "config": {"limit": 10},
    "output": None,
    "error": None,
    "pending_approval": {"node": "gate", "message": "Pay 7?"},
    "webhook_url": "https://hooks.acme.example/forgeyard",
    "created_at": T0,
    "started_at": "2026-12-01T09:30:00.120000Z",
    "finished_at": None,
    "updated_at": T1,
    "duration_seconds": 4.13,
    "kind": "run",
    "parent_run_id": None,
    "replay": None,
    "links": {
        "self": _BASE,
        "steps": f"{_BASE}/steps",
        "events": f"{_BASE}/events",
        "cancel": f"{_BASE}/cancel",
        "approve": f"{_BASE}/approve",
        "reject": f"{_BASE}/reject",
        "replay": f"{_BASE}/replay",
        "fork": f"{_BASE}/fork",
        "lineage": f"{_BASE}/lineage",
        "wait": f"{_BASE}/wait",
        "webhooks": f"{_BASE}/webhooks",
    },
    "webhooks": [WEBHOOK_DELIVERY],
}
RUN_PAGE = {"items": [{**RUN, "webhooks": None}], "next_cursor": "eyJjIjoiMjAyNi0xMi0wMSJ9"}
STEP = {
    "seq": 1,
    "node": "add",
    "kind": "tool",
    "visit": 0,
    "attempt": 1,
    "status": "ok",
    "input": {"a": 7, "b": 0},
    "output": {"sum": 7},
    "error": None,
    "model": None,
    "adapter": None,
    "prompt": None,
    "completion": None,
    "token_ids": None,
    "usage": None,
    "latency_ms": 1.8,
    "started_at": T0,
    "finished_at": "2026-12-01T09:30:00.002000Z",
}
_SIDE = {"workflow": "adder", "workflow_version": "1", "spec_hash": HASH, "error": None}
RUN_DIFF = {
    "a": {"id": RUN_ID, "status": "succeeded", **_SIDE},
    "b": {"id": "7b5a3f1e4d2c6b8a0f9e7d5c3b1a2f4e", "status": "succeeded", **_SIDE},
    "same_workflow": True,
    "same_spec": True,
    "identical": False,
    "first_divergence": {
        "index": 0,
        "node": "add",
        "visit": 0,
        "fields": ["input", "output"],
        "summary": "add (visit 0): input, output differ",
    },
    "input": [{"path": "input.a", "change": "changed", "a": 7, "b": 3}],
    "output": [{"path": "output.total", "change": "changed", "a": 7, "b": 3}],
    "steps": [
        {
            "index": 0,
            "node": "add",
            "visit": 0,
            "same": False,
            "fields": ["input", "output"],
            "a": {"seq": 1, "attempt": 1, "status": "ok"},
            "b": {"seq": 1, "attempt": 1, "status": "ok"},
            "attempts": {"a": 1, "b": 1},
            "changes": [{"path": "output.sum", "change": "changed", "a": 7, "b": 3}],
        }
    ],
}
WORKFLOW_REGISTER = {"yaml": "name: adder\nversion: '1'\nstart: add\nnodes: {...}\n"}
WORKFLOW_SUMMARY = {
    "name": "logistics_booking",
    "version": "1.2.0",
    "description": "Ocean-freight booking: extract, quote, screen, choose, approve, book.",
    "source": "catalog",
}
WORKFLOW_DETAIL = {
    **WORKFLOW_SUMMARY,
    "hash": HASH,
    "input_schema": {"type": "object", "properties": {"request": {"type": "object"}}},
    "spec": "name: logistics_booking\nversion: 1.2.0\n...",
    "versions": [{"version": "1.2.0", "hash": HASH, "source": "catalog", "created_at": None}],
}
READINESS = {
    "ready": True,
    "checks": {
        "database": {"ok": True, "required": True, "detail": "reachable"},
        "broker": {"ok": True, "required": True, "detail": "reachable"},
        "model_server": {
            "ok": False,
            "required": False,
            "detail": "ConnectError: [Errno 111] Connection refused",
        },
    },
}
REWARD_MODEL_REGISTER = {"yaml": "name: logistics_booking_rm\nworkflow: logistics_booking\n..."}
REWARD_MODEL = {
    "id": "rm_4c2e",
    "name": "logistics_booking_rm",
    "version": "3",
    "hash": HASH,
    "workflow": "logistics_booking",
    "status": "approved",
    "latest_evaluation_id": "ev_81d0",
    "created_at": T0,
    "approved_at": T1,
}
REWARD_MODEL_DETAIL = {**REWARD_MODEL, "spec": "name: logistics_booking_rm\n..."}
EVALUATION_CREATE = {"runs": "workflow=logistics_booking,status=succeeded,limit=200"}
EVALUATION = {
    "id": "ev_81d0",
    "reward_model_id": "rm_4c2e",
    "status": "running",
    "progress": 0.4,
    "message": "scoring 80 of 200 runs",
    "source": {"runs": "workflow=logistics_booking,status=succeeded,limit=200", "tasks": False},
    "passed": None,
    "error": None,
    "report": None,
    "created_at": T0,
    "started_at": T0,
    "finished_at": None,
    "links": {
        "self": "/v1/reward-models/rm_4c2e/evaluations/ev_81d0",
        "html": "/v1/reward-models/rm_4c2e/evaluations/ev_81d0?format=html",
    },
}
LABEL_CREATE = {"score": 0.8, "note": "Cheapest compliant quote, but late."}
LABEL = {
    "id": 12,
    "kind": "score",
    "workflow": "logistics_booking",
    "run_id": RUN_ID,
    "score": 0.8,
    "rejected_run_id": None,
    "by": "ops@acme",
    "note": "Cheapest compliant quote, but late.",
    "created_at": T0,
}
TRAINING_JOB_CREATE = {
    "workflow": "logistics_booking",
    "node": "choose",
    "reward_model": "logistics_booking_rm",
    "max_steps": 20,
}
TRAINING_METRIC = {
    "step": 5,
    "reward_mean": 0.62,
    "reward_std": 0.18,
    "frac_zero_std": 0.25,
    "kl": 0.004,
    "loss": 0.011,
    "values": {"learning_rate": 1e-05},
    "created_at": T1,
}
TRAINING_JOB = {
    "id": "tj_93aa",
    "workflow": "logistics_booking",
    "node": "choose",
    "reward_model_id": "rm_4c2e",
    "base_model": "tiny",
    "status": "running",
    "step": 5,
    "total_steps": 20,
    "message": "step 5 of 20",
    "error": None,
    "adapter_id": None,
    "attempts": 1,
    "config": {"max_steps": 20, "num_generations": 4},
    "summary": None,
    "created_at": T0,
    "started_at": T0,
    "finished_at": None,
    "links": {
        "self": "/v1/training-jobs/tj_93aa",
        "metrics": "/v1/training-jobs/tj_93aa/metrics",
        "plot": "/v1/training-jobs/tj_93aa/plot.png",
    },
}
TRAINING_JOB_DETAIL = {**TRAINING_JOB, "latest_metrics": TRAINING_METRIC}
ADAPTER = {
    "id": "ad_5e17",
    "workflow": "logistics_booking",
    "node": "choose",
    "base_model": "tiny",
    "reward_model_id": "rm_4c2e",
    "training_job_id": "tj_93aa",
    "rank": 8,
    "status": "active",
    "served_name": "acme-choose-ad_5e17",
    "metrics": {"reward_mean": 0.71},
    "gate": {"passed": True, "mean_difference": 0.09, "ci_low": 0.03, "ci_high": 0.15},
    "previous_adapter_id": None,
    "created_at": T0,
    "promoted_at": T1,
    "retired_at": None,
}
ROLLBACK = {
    "retired": {**ADAPTER, "status": "retired", "retired_at": T1},
    "active": None,
}
REPLAY_CREATE = {"mode": "what_if", "adapter": "acme-choose-ad_5e17"}
FORK_CREATE = {
    "at_step": {"node": "choose", "visit": 0},
    "patch": [{"op": "replace", "path": "/choice/quote_id", "value": "Q2"}],
    "live_effects": False,
}
BULK_REPLAY_CREATE = {"last": 200}
BULK_REPLAY = {
    "workflow": "logistics_booking",
    "replayed": 200,
    "identical": 199,
    "diverged": 1,
    "identical_replays": ["c0ffee00c0ffee00c0ffee00c0ffee00"],
    "diverged_replays": [
        {
            "replay_id": "d1ffd1ffd1ffd1ffd1ffd1ffd1ffd1ff",
            "source_id": RUN_ID,
            "divergence": {"seq": 5, "node": "screen"},
            "message": "replay diverged at step 5 (node screen)",
        }
    ],
}
LINEAGE = {
    "ancestors": [],
    "children": [
        {
            **RUN,
            "id": "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
            "status": "succeeded",
            "kind": "replay_recorded",
            "parent_run_id": RUN_ID,
            "pending_approval": None,
            "webhooks": None,
        }
    ],
}
