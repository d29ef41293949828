"""Where an environment runs a workflow: its own SQLite database, model and approver.

Nothing a sandboxed run does reaches the configured database: steps are kept in
memory, side-effecting tools (``logistics.book``) write through an effects
ledger bound to a temporary SQLite file the sandbox owns
(:class:`agents.sandbox.SandboxDatabase`, shared with replays and forks).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

from agents.model_client import ModelCall, ModelClient
from agents.nodes import RunServices
from agents.sandbox import SandboxDatabase
from agents.trace import StepRecorder
from forgeyard.models import Step, StepStatus, utcnow

__all__ = ["Sandbox", "SandboxError", "SandboxModel"]


class SandboxError(Exception):
    """The sandboxed rest of a workflow could not finish."""


class SandboxModel:
    """The sandbox's model for llm nodes *after* the decision point.

    Deterministic: it answers with a fixed confirmation restating the prompt's
    booking (reference, carrier, price), so the reward measures the choice,
    not the prose of a stand-in.
    """

    name = "sandbox"

    def complete(self, messages: list[dict[str, Any]], **_options: Any) -> ModelCall:
        """A fixed answer naming what the last user message asks to confirm."""
        prompt = str(messages[-1].get("content", "")) if messages else ""
        match = re.search(r"for booking (.*)", prompt, flags=re.DOTALL)
        details = " ".join((match.group(1) if match else prompt).split()).rstrip(".")
        text = f"Booking {details} is confirmed. Thank you for shipping with us."
        return ModelCall(model=self.name, messages=messages, text=text, parsed=text)


class _MemoryRecorder(StepRecorder):
    """Keeps the steps in memory instead of the configured database."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.steps: list[Step] = []

    def attempt(self, node: str, visit: int) -> int:
        failed = [
            s
            for s in self.steps
            if s.node == node and s.visit == visit and s.status == StepStatus.error
        ]
        return len(failed) + 1

    def record(self, *, node: str, kind: str, status: StepStatus, **fields: Any) -> Step:
        started: datetime = fields.pop("started_at")
        fields.pop("call", None)
        step = Step(
            run_id=self.run_id,
            seq=len(self.steps) + 1,
            node=node,
            kind=kind,
            status=status,
            started_at=started,
            finished_at=utcnow(),
            visit=fields.get("visit", 0),
            attempt=fields.get("attempt", 1),
            error=fields.get("error"),
        )
        self.steps.append(step)
        return step


class Sandbox(SandboxDatabase):
    """A temporary SQLite database with every Forgeyard table, owned by one environment."""

    def services(self, run_id: str, model: Any = None) -> RunServices:
        """Services for one sandboxed run: memory steps, the sandbox ledger, ``model``."""
        return RunServices(
            run_id=run_id,
            # Duck-typed: nodes only call ``complete``.
            model=cast(ModelClient, model or SandboxModel()),
            recorder=_MemoryRecorder(run_id),
            ledger=self.ledger(),
            sandbox=True,
        )
