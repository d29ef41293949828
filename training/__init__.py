"""Training on workflow decision points: Gymnasium environments for GRPO rollouts.

Importing this package registers the environments::

    import gymnasium, training
    env = gymnasium.make("forgeyard/LogisticsChoose-v0")

Errors::

    SandboxError      the sandboxed rest of a workflow could not finish
"""

import gymnasium

from training.envs import ChooseEnv, RewardCallable, reward_model_reward
from training.sandbox import Sandbox, SandboxError, SandboxModel

__all__ = [
    "ChooseEnv",
    "RewardCallable",
    "Sandbox",
    "SandboxError",
    "SandboxModel",
    "reward_model_reward",
]

gymnasium.register(id="forgeyard/LogisticsChoose-v0", entry_point="training.envs:ChooseEnv")
