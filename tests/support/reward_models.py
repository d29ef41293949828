"""Small factories for reward-model API tests: a spec, a labelled dataset, requests."""

from __future__ import annotations

import json
from typing import Any

from tests.rewards.factories import example, spec_yaml

GOOD, BAD = {"quote_id": "Q1"}, {"quote_id": "Q9"}
# Met by the default dataset's labels (they agree with the quote check).
THRESHOLDS = {"spearman": 0.5, "pairwise_accuracy": 0.75, "min_labelled": 4}


def rm_yaml(*graders: dict[str, Any], **top: Any) -> str:
    """A reward spec (the quote check unless ``graders``) with :data:`THRESHOLDS`."""
    return spec_yaml(*graders, **{"thresholds": THRESHOLDS, **top})


def dataset_jsonl(labels: tuple[float, ...] = (1.0, 0.0, 1.0, 0.0)) -> str:
    """Good and bad answers alternately, labelled as given, and one preference line."""
    lines = [
        json.dumps(example(BAD if i % 2 else GOOD, id=f"e{i}", label=lab).to_dict())
        for i, lab in enumerate(labels)
    ]
    return "\n".join([*lines, json.dumps({"chosen": "e0", "rejected": "e1"})]) + "\n"


def register(tenant: Any, text: str | None = None) -> dict[str, Any]:
    """Register a reward spec for ``tenant`` (a TenantClient); the version's JSON."""
    response = tenant.post("/v1/reward-models", json={"yaml": text or rm_yaml()})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def evaluate(tenant: Any, rm_id: str, **body: Any) -> dict[str, Any]:
    """Ask for an evaluation of ``rm_id``; the queued evaluation's JSON."""
    response = tenant.post(f"/v1/reward-models/{rm_id}/evaluations", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())
