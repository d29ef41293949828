"""Varied runs of the shipped logistics workflow: booked, needs-information, refused,
approved, rejected, hazardous, free text (shared by the replay tests and bench/replay.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agents.model_client import ModelClient
from agents.runner import decide, execute_run, start_run
from forgeyard.models import Run
from workflows.catalog import EXAMPLES_DIR
from workflows.loader import load_spec

INPUTS = EXAMPLES_DIR / "logistics_booking" / "inputs"
# No booking needs a person (unless a case sets a threshold of its own).
NO_APPROVAL = {"approval_threshold_usd": 10**9}
LANES = [("CNSHA", "NLRTM"), ("CNNGB", "DEHAM"), ("CNYTN", "NLRTM"), ("KRPUS", "DEHAM")]


def _input(name: str) -> dict[str, Any]:
    return json.loads((INPUTS / f"{name}.json").read_text())


@dataclass
class Case:
    """One run to make: its input, config and the decision a person takes, if asked."""

    label: str
    input: dict[str, Any]
    config: dict[str, Any] = field(default_factory=lambda: dict(NO_APPROVAL))
    decision: bool | None = None


def cases(n: int) -> Iterator[Case]:
    """``n`` varied cases, cycling through the kinds of outcome."""
    structured = _input("structured")
    for i in range(n):
        request = copy.deepcopy(structured)
        origin, destination = LANES[i % len(LANES)]
        request["request"] |= {"origin": origin, "destination": destination}
        # 124,800 kg: five or more 40HC containers keep each under its payload.
        request["request"]["containers"] = 5 + i % 5
        kind = i % 7
        if kind == 0:
            yield Case(f"booked-{i}", request)
        elif kind == 1:
            del request["request"]["container_type"]
            yield Case(f"needs-information-{i}", request)
        elif kind == 2:
            request["request"]["destination"] = "IRBND"
            yield Case(f"refused-{i}", request)
        elif kind == 3:
            yield Case(f"approved-{i}", request, {"approval_threshold_usd": 0}, decision=True)
        elif kind == 4:
            yield Case(f"rejected-{i}", request, {"approval_threshold_usd": 0}, decision=False)
        elif kind == 5:
            yield Case(f"hazardous-{i}", _input("hazardous"), decision=True)
        else:
            yield Case(f"free-text-{i}", _input("free_text"))


def make_runs(n: int, model: ModelClient, *, tenant_id: str = "default") -> list[Run]:
    """Run ``n`` varied cases to the end (deciding approvals as each case says)."""
    loaded = load_spec(EXAMPLES_DIR / "logistics_booking" / "workflow.yaml")
    runs = []
    for case in cases(n):
        run = start_run(loaded, case.input, config=case.config, tenant_id=tenant_id)
        run = execute_run(run.id, model=model)
        if run.status.value == "waiting_approval":
            assert case.decision is not None, f"{case.label} waits for a decision it has not"
            run = decide(run.id, approved=case.decision, by="ops@example.com", model=model)
        runs.append(run)
    return runs
