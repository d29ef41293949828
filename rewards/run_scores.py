"""The scores a tenant's reward models give one recorded run, grader by grader.

For the ops console's run page: each reward model of the run's workflow (its
newest version by name) scores the run's example exactly as an evaluation
would.  Ground truth is not known for a live run, so graders that compare
with ``expected`` do not apply (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.runner import get_run
from agents.trace import load_trace
from forgeyard.records.rewards import RewardModelRecord
from rewards.errors import RewardError
from rewards.model import RewardModel, Score
from rewards.runs import example_from_run
from rewards.store import list_versions, loaded_spec

__all__ = ["RunScore", "score_run"]


@dataclass(frozen=True)
class RunScore:
    """One reward model's verdict on the run, or why it could not give one."""

    reward_model: RewardModelRecord
    score: Score | None
    error: str | None = None


def score_run(run_id: str, *, tenant_id: str) -> list[RunScore]:
    """Score run ``run_id`` with each of the tenant's reward models for its workflow.

    Raises:
        RunNotFound: no such run for this tenant.
    """
    run = get_run(run_id, tenant_id=tenant_id)
    example = example_from_run(run, load_trace(run.id))
    newest: dict[str, RewardModelRecord] = {}
    for record in list_versions(tenant_id=tenant_id, workflow=run.workflow):  # newest first
        newest.setdefault(record.name, record)
    out = []
    for record in sorted(newest.values(), key=lambda r: r.name):
        try:
            out.append(RunScore(record, RewardModel(loaded_spec(record)).score(example)))
        except RewardError as exc:  # a stored spec that no longer loads (e.g. a moved module)
            out.append(RunScore(record, None, error=str(exc)))
    return out
