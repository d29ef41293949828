"""Recorded runs for search and diff tests, made by the real runner without a model server.

The `desk` spec has a tool node, an llm node (``choose``) and a route, and a
nested input, so every search filter and every kind of step difference has
something to look at. Its llm node is answered by :class:`ScriptedModel`, a
stand-in for the model client that answers from a table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agents.model_client import ModelCall
from agents.runner import execute_run, start_run
from forgeyard.db import session_scope
from forgeyard.models import Run
from tests.support.specs import spec_dict, to_yaml
from workflows.loader import LoadedSpec, load_spec_text

DESK_INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "a": {"type": "number"},
        "request": {"type": "object"},
        "tags": {"type": "array"},
        "rush": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["a"],
}


def desk_spec(name: str = "desk", *, retry_tool: bool = False) -> LoadedSpec:
    """Add, choose a carrier (llm), then end in `done` or, above the limit, `too_big`.

    With ``retry_tool`` the first node is `test.flaky` (failing once per key,
    then retried), to record a visit with two attempts.
    """
    first: dict[str, Any] = {
        "kind": "tool",
        "tool": "test.add",
        "args": {"a": "input.a", "b": "0"},
        "into": "total",
    }
    if retry_tool:
        first = {
            "kind": "tool",
            "tool": "test.flaky",
            "args": {"key": "input.note", "failures": "1"},
            "into": "flaky",
            "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
        }
    nodes: dict[str, Any] = {
        "add": first,
        "choose": {
            "kind": "llm",
            "system": "You choose carriers.",
            "prompt": "Book order {{ input.a }}.",
            "output": {
                "into": "choice",
                "schema": {
                    "type": "object",
                    "properties": {"carrier": {"type": "string"}},
                    "required": ["carrier"],
                },
            },
        },
        "check": {
            "kind": "route",
            "routes": [{"when": "input.a > config.limit", "to": "too_big"}],
            "default": "done",
        },
        "done": {"kind": "end", "output": {"carrier": "choice.carrier", "a": "input.a"}},
        "too_big": {"kind": "end", "output": {"rejected": "input.a"}},
    }
    text = to_yaml(
        spec_dict(
            name=name,
            input=DESK_INPUT_SCHEMA,
            state={
                "total": {"type": "object"},
                "flaky": {"type": "object"},
                "choice": {"type": "object"},
            },
            start="add",
            nodes=nodes,
            edges=[{"from": "add", "to": "choose"}, {"from": "choose", "to": "check"}],
        )
    )
    return load_spec_text(text)


class ScriptedModel:
    """Stand-in for the model client: answers ``choose`` with a fixed carrier."""

    def __init__(self, carrier: str = "MDOU", name: str = "tiny-desk") -> None:
        self.carrier = carrier
        self.name = name
        self.base_url = "http://127.0.0.1:9/v1"  # never called: no adapter reload happens

    def complete(self, messages: list[dict[str, Any]], **_: Any) -> ModelCall:
        parsed = {"carrier": self.carrier}
        return ModelCall(model=self.name, messages=messages, text=json.dumps(parsed), parsed=parsed)


def record_desk_run(
    run_input: dict[str, Any],
    *,
    tenant_id: str = "default",
    carrier: str = "MDOU",
    model_name: str = "tiny-desk",
    adapter: str | None = None,
    spec: LoadedSpec | None = None,
    key: str | None = None,
    execute: bool = True,
) -> Run:
    """Start a `desk` run and (unless ``execute`` is False) run it to its end."""
    run = start_run(
        spec or desk_spec(),
        run_input,
        tenant_id=tenant_id,
        fields={"idempotency_key": key} if key else None,
    )
    if not execute:
        return run
    model = ScriptedModel(carrier, model_name)
    return execute_run(run.id, model=model, adapter=adapter)  # type: ignore[arg-type]


def set_times(run_id: str, *, created: datetime, finished: datetime | None = None) -> None:
    """Put a run at a known point in time (search by time range needs fixed times)."""
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.created_at = created
        run.finished_at = finished
        session.add(run)


class QuotePicker:
    """Stand-in model for the logistics example: takes the n-th eligible quote, confirms plainly."""

    name = "quote-picker"
    base_url = "http://127.0.0.1:9/v1"

    def __init__(self, pick: int = 0) -> None:
        self.pick = pick

    def complete(self, messages: list[dict[str, Any]], schema: Any = None, **_: Any) -> ModelCall:
        if schema is None:  # the confirmation
            return ModelCall(model=self.name, messages=messages, text="Booked.", parsed="Booked.")
        choices = schema["properties"]["quote_id"]["enum"]
        parsed = {"quote_id": choices[min(self.pick, len(choices) - 1)]}
        return ModelCall(model=self.name, messages=messages, text=json.dumps(parsed), parsed=parsed)


def record_booking(pick: int = 0, tenant_id: str = "default") -> Run:
    """A logistics run of the shipped structured input, the ``pick``-th quote booked."""
    from workflows.catalog import EXAMPLES_DIR, resolve

    run_input = json.loads((EXAMPLES_DIR / "logistics_booking/inputs/structured.json").read_text())
    run = start_run(
        resolve("logistics_booking"),
        run_input,
        config={"approval_threshold_usd": 10**9},
        tenant_id=tenant_id,
    )
    return execute_run(run.id, model=QuotePicker(pick))  # type: ignore[arg-type]
