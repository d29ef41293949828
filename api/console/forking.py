"""What the fork form edits: the state after a step, and the JSON patch an edit amounts to.

The state shown is rebuilt from the trace (each completed step's output is
what its node wrote ``into`` the state, as the pinned spec says); the fork
itself starts from the stored checkpoint and checks the patch against the
state schema, so this only has to give the operator the right starting text.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from agents.runner import pinned_spec
from api.schemas import StepOut
from forgeyard.models import Run

__all__ = ["edit_patch", "state_after"]


def _writes(run: Run) -> dict[str, str]:
    writes: dict[str, str] = {}
    for name, node in pinned_spec(run).spec.nodes.items():
        into = getattr(node, "into", None) or getattr(getattr(node, "output", None), "into", None)
        if isinstance(into, str):
            writes[name] = into
    return writes


def state_after(run: Run, steps: list[StepOut], seq: int) -> dict[str, Any]:
    """The run's state once step ``seq`` had completed: input, config and the fields written."""
    writes = _writes(run)
    state: dict[str, Any] = {"input": run.input, "config": run.config}
    for step in steps:
        if step.seq > seq:
            break
        if step.status == "ok" and step.node in writes:
            state[writes[step.node]] = step.output
    return state


def edit_patch(original: dict[str, Any], edited: dict[str, Any]) -> list[dict[str, Any]]:
    """The RFC 6902 operations that turn ``original`` into ``edited`` (what the fork API takes)."""
    return list(jsonpatch.make_patch(original, edited).patch)
