"""Held-out evaluation of a served model on one workflow decision point.

A served model is the base model or an adapter's ``served_name``.  Each
held-out task is replayed in the node's environment (``reset(options=
{"task_id": ...})``), the node's prompt is asked of the model exactly as a
run would ask it (the node's messages, its JSON-schema structured output, its
model options, through :class:`agents.model_client.ModelClient`), and the
completion is scored by the environment: the rest of the workflow runs in a
sandbox and the reward model scores the finished run.

Held-out tasks come from :func:`generate_tasks` with a seed of their own
(``adapter_gate_seed`` in the settings), never a training seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium

from agents.model_client import ModelClient, ModelOutputError
from rewards.example import Example
from training import environment_id
from training.envs import NodeEnv, RewardCallable, reward_model_reward
from workflows.examples.logistics_booking.tasks import BookingTask, generate_tasks

__all__ = ["Evaluation", "TaskResult", "evaluate_served", "held_out_tasks"]


@dataclass
class TaskResult:
    """One held-out task answered by one served model."""

    task_id: str
    reward: float
    completion: str
    output: Any = None
    error: str | None = None
    # The finished sandboxed run as the reward model saw it (for hack probes).
    example: Example | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "reward": self.reward,
            "completion": self.completion,
            "output": self.output,
            "error": self.error,
        }


@dataclass
class Evaluation:
    """Per-task results of one served model, in held-out task order."""

    model: str
    results: list[TaskResult]

    @property
    def rewards(self) -> list[float]:
        return [r.reward for r in self.results]

    @property
    def mean_reward(self) -> float:
        return sum(self.rewards) / len(self.results) if self.results else 0.0

    @property
    def examples(self) -> list[Example]:
        return [r.example for r in self.results if r.example is not None]


def held_out_tasks(n: int, *, seed: int) -> list[BookingTask]:
    """The ``n`` generated held-out tasks (the environment keeps the choosable ones)."""
    return generate_tasks(n, seed=seed)


def make_env(
    workflow: str, node: str, reward_fn: RewardCallable, tasks: list[BookingTask]
) -> NodeEnv:
    """The node's registered environment over ``tasks``, scored by ``reward_fn``."""
    env = gymnasium.make(environment_id(workflow, node), reward_fn=reward_fn, tasks=tasks)
    unwrapped = env.unwrapped
    assert isinstance(unwrapped, NodeEnv)
    return unwrapped


def evaluate_served(
    served_name: str,
    env: NodeEnv,
    *,
    client: ModelClient,
) -> Evaluation:
    """Answer every task of ``env`` with ``served_name`` and score each answer.

    Args:
        served_name: ``model`` sent to the server (base model or adapter name).
        env: The node's environment; each of its tasks is replayed once, in order.
        client: The model client (its server must serve ``served_name``).

    Raises:
        ModelError: the server could not be reached or refused the request (e.g.
            ``served_name`` is not loaded); a completion off the schema scores 0
            for its task instead.
    """
    node = env.llm_node
    options = node.model
    results = []
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        error = None
        try:
            call = client.complete(
                info["messages"],
                schema=info["schema"],
                model=served_name,
                temperature=options.temperature,
                top_p=options.top_p,
                max_tokens=options.max_tokens,
                seed=options.seed,
                timeout=node.timeout_seconds,
            )
            text = call.text
        except ModelOutputError as exc:
            # An answer off the schema is a bad answer (the environment scores it
            # 0), not a failed evaluation; a refused request or a dead server is.
            error = str(exc)
            text = exc.call.text if exc.call is not None else ""
        _, reward, _, _, step_info = env.step(text)
        example = None
        if "state" in step_info:
            example = reward_model_reward.example(step_info["state"], step_info["output"], task)
        results.append(
            TaskResult(
                task_id=task.task_id,
                reward=float(reward),
                completion=text,
                output=step_info.get("output"),
                error=error or step_info.get("error"),
                example=example,
            )
        )
    return Evaluation(model=served_name, results=results)
