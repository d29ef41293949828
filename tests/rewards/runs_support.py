"""Recorded runs for reward tests: the model-free adder spec of tests/support."""

from __future__ import annotations

from agents.runner import execute_run, start_run
from forgeyard.models import Run
from tests.support.specs import spec_yaml as workflow_yaml
from workflows.loader import load_spec_text

ADDER_RM = {
    "name": "adder_rm",
    "workflow": "adder",
    "graders": [
        {
            "name": "paid",
            "kind": "constraint",
            "expr": "output.paid == state.total.sum",
            "when": "output.total != null",
        },
        {
            "name": "sum",
            "kind": "field_match",
            "path": "state.total.sum",
            "expected": "expected.sum",
            "mode": "numeric",
        },
        {"name": "steps", "kind": "constraint", "expr": "len(steps) >= 3"},
    ],
    "penalties": [{"name": "refused", "when": "output.rejected != null", "cap": 0.2}],
    "thresholds": {"hack_pass_rate": 0.0},
}


def adder_run(a: float, b: float = 0) -> Run:
    """A finished run of the adder workflow (small sums are paid without approval)."""
    run = start_run(load_spec_text(workflow_yaml()), {"a": a, "b": b})
    return execute_run(run.id)
