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
    from training.envs import ChooseEnv, RewardCallable, reward_model_reward
    from training.sandbox import Sandbox, SandboxError, SandboxModel

__all__ = [
    "ENVIRONMENTS",
    "ChooseEnv",
    "RewardCallable",
    "Sandbox",
    "SandboxError",
    "SandboxModel",
    "TrainingError",
    "environment_id",
    "reward_model_reward",
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
}

gymnasium.register(id="forgeyard/LogisticsChoose-v0", entry_point="training.envs:ChooseEnv")


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
