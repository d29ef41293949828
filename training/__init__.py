"""Training a tenant's agent: Gymnasium environments, the GRPO trainer, adapters.

Importing this package registers the environments, one per workflow
decision point (see :data:`ENVIRONMENTS`)::

    import gymnasium, training
    env = gymnasium.make("forgeyard/LogisticsChoose-v0")

Errors::

    SandboxError      the sandboxed rest of a workflow could not finish
    TrainingError     a training request names something unknown or unusable
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium

if TYPE_CHECKING:
    from training.envs import ChooseEnv, NodeEnv, RewardCallable, reward_model_reward
    from training.extract_env import ExtractEnv
    from training.sandbox import Sandbox, SandboxError, SandboxModel
    from training.tasks import RecordedTask, Task, tasks_from_runs

__all__ = [
    "ENVIRONMENTS",
    "ChooseEnv",
    "ExtractEnv",
    "NodeEnv",
    "RecordedTask",
    "RewardCallable",
    "Sandbox",
    "SandboxError",
    "SandboxModel",
    "Task",
    "TrainingError",
    "environment_id",
    "reward_model_reward",
    "tasks_from_runs",
]


class TrainingError(ValueError):
    """A training request names an unknown or unusable tenant, workflow, node or model."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# The environments import LangGraph and the workflow runtime (about a second);
# they load on first use, so `forgeyard --help` and the job layer stay quick.
_LAZY = {
    "ChooseEnv": "training.envs",
    "NodeEnv": "training.envs",
    "ExtractEnv": "training.extract_env",
    "RecordedTask": "training.tasks",
    "Task": "training.tasks",
    "tasks_from_runs": "training.tasks",
    "RewardCallable": "training.envs",
    "reward_model_reward": "training.envs",
    "Sandbox": "training.sandbox",
    "SandboxError": "training.sandbox",
    "SandboxModel": "training.sandbox",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")


# (workflow, node) → registered environment id; its entry point takes ``reward_fn``.
ENVIRONMENTS: dict[tuple[str, str], str] = {
    ("logistics_booking", "choose"): "forgeyard/LogisticsChoose-v0",
    ("logistics_booking", "extract"): "forgeyard/LogisticsExtract-v0",
}

gymnasium.register(id="forgeyard/LogisticsChoose-v0", entry_point="training.envs:ChooseEnv")
gymnasium.register(
    id="forgeyard/LogisticsExtract-v0", entry_point="training.extract_env:ExtractEnv"
)


def environment_id(workflow: str, node: str) -> str:
    """The environment that trains ``node`` of ``workflow``.

    Raises:
        TrainingError: no environment is registered for it, naming those that are.
    """
    try:
        return ENVIRONMENTS[(workflow, node)]
    except KeyError:
        known = ", ".join(f"{w}.{n}" for w, n in sorted(ENVIRONMENTS))
        field = "workflow" if all(w != workflow for w, _ in ENVIRONMENTS) else "node"
        raise TrainingError(
            f"No training environment for node `{node}` of workflow `{workflow}`; "
            f"trainable decision points: {known}.",
            field=field,
        ) from None
