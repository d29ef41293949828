"""The unit every grader scores: one agent answer with what it should have been.

An example comes from a recorded run (``output`` is the run's end output,
``state`` its final state), from a labelled dataset line, or from one
completion of a TRL batch (``completion`` is the text, ``output`` its JSON
when it parses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Example", "completion_text", "parse_output"]


@dataclass
class Example:
    """One answer to score.

    Attributes:
        id: Stable identifier (a run id, or the dataset's ``id``).
        output: The agent's final output (a mapping for workflow runs).
        state: The run's final state (empty for a bare completion).
        expected: Ground truth, when known; graders comparing against it do not
            apply (score ``None``) where it is missing.
        input: What the agent was given.
        prompt: The prompt text, for text graders and probes.
        completion: The completion text; for runs, the output as JSON.
        steps: The recorded steps, as plain dicts.
        task: Further task fields (extra TRL dataset columns).
        group: Which prompt the answer belongs to (task id): answers with the
            same group form a GRPO group.
        label: A human score in [0, 1], when labelled.
    """

    id: str
    output: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] | None = None
    input: Any = None
    prompt: str | None = None
    completion: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    task: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    label: float | None = None

    def mapping(self) -> dict[str, Any]:
        """What paths and expressions read: one name per :data:`rewards.paths.ROOTS` entry."""
        completion = self.completion
        if completion is None and self.output is not None:
            completion = self.output if isinstance(self.output, str) else json.dumps(self.output)
        return {
            "output": self.output,
            "state": self.state,
            "expected": self.expected,
            "input": self.input,
            "prompt": self.prompt,
            "completion": completion,
            "steps": self.steps,
            "task": self.task,
        }

    def to_dict(self) -> dict[str, Any]:
        """The dataset-line form (empty fields left out)."""
        out: dict[str, Any] = {"id": self.id}
        for name in ("group", "input", "prompt", "completion", "output", "expected", "label"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name in ("state", "steps", "task"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the last message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return "" if completion is None else str(completion)


def parse_output(text: str) -> Any:
    """The completion as JSON when it is JSON, else the text itself."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
    return text
