"""Run a spec's cases (:mod:`workflows.cases`) with canned model answers, no model server.

Each case is a real run (recorded steps, effects ledger, approvals) in the
configured database; only the model is replaced, by :class:`CannedModel`,
which answers each llm node from the case and checks the answer against the
node's schema as the model server would.  ``forgeyard workflows test`` gives
it a throw-away SQLite database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NoReturn

import jsonschema

from agents.model_client import ModelCall, ModelOutputError
from agents.runner import RunError, decide, execute_run, start_run
from agents.trace import load_trace
from forgeyard.models import Run, RunStatus
from forgeyard.telemetry import context
from workflows.cases import Case
from workflows.loader import LoadedSpec

__all__ = ["CannedModel", "CaseResult", "run_case"]

# Enough for any loop a case drives (an approval resumes the run each time).
_MAX_APPROVALS = 50


class CannedModel:
    """Stand-in for the model client: each llm node's answers, in call order, from a case."""

    model = "canned"
    base_url = "http://127.0.0.1:9/v1"  # never called: no adapter is reloaded

    def __init__(self, case: Case) -> None:
        self.case = case
        self.calls: dict[str, int] = {}
        self.problems: list[str] = []

    def complete(self, messages: list[dict[str, Any]], schema: Any = None, **_: Any) -> ModelCall:
        node = context.current().get("node") or "?"
        answers = self.case.answers_for(node)
        # Counted on success only: a retried (failed) call gets the same answer again.
        index = self.calls.get(node, 0)
        call = ModelCall(model=self.model, messages=messages, finish_reason="stop")
        if index >= len(answers):
            message = (
                f"node `{node}`: no canned answer for call {index + 1} "
                f"(the case gives {len(answers)}); add it under `answers: {{{node}: ...}}`"
            )
            self._fail(message, call)
        answer = answers[index]
        if schema is None:
            call.text = answer if isinstance(answer, str) else json.dumps(answer)
            call.parsed = call.text
            self.calls[node] = index + 1
            return call
        call.text, call.parsed = json.dumps(answer), answer
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(answer), key=lambda e: e.path
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "<answer>"
            message = (
                f"node `{node}`: canned answer {answer!r} does not satisfy the node's schema "
                f"({where}: {errors[0].message})"
            )
            self._fail(message, call)
        self.calls[node] = index + 1
        return call

    def _fail(self, message: str, call: ModelCall) -> NoReturn:
        if message not in self.problems:
            self.problems.append(message)
        raise ModelOutputError(message, call=call)


@dataclass
class CaseResult:
    """What one case came to; ``failures`` empty when it passed."""

    name: str
    run_id: str | None = None
    status: str | None = None
    end: str | None = None
    path: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_case(loaded: LoadedSpec, case: Case) -> CaseResult:
    """Run ``case`` against ``loaded`` in the configured database and check what it expects."""
    result = CaseResult(case.name)
    model = CannedModel(case)
    try:
        run = start_run(loaded, case.input or {}, config=case.config)
    except RunError as exc:
        result.failures.append(f"the case's input is refused: {exc}")
        return result
    result.run_id = run.id
    run = execute_run(run.id, model=model)  # type: ignore[arg-type]
    for _ in range(_MAX_APPROVALS):
        if run.status != RunStatus.waiting_approval:
            break
        node = (run.pending_approval or {}).get("node", "?")
        decision = case.decision(node)
        if decision is None:
            result.failures.append(
                f"node `{node}`: the run waits for an approval the case does not give; "
                f"add `approvals: {{{node}: true}}` (or false)"
            )
            return _finish(result, run)
        run = decide(
            run.id,
            approved=decision.approved,
            by=decision.by,
            comment=decision.comment,
            model=model,  # type: ignore[arg-type]
        )
    _finish(result, run)
    if model.problems:
        result.failures.extend(model.problems)
        return result
    if run.status != RunStatus.succeeded:
        last = result.path[-1] if result.path else "?"
        result.failures.append(f"node `{last}`: the run {run.status.value}: {run.error}")
        return result
    expect = case.expect
    if result.end != expect.end:
        result.failures.append(
            f"node `{result.end}`: the run ended here, the case expects `{expect.end}`"
        )
    output = run.output or {}
    for key, wanted in expect.output.items():
        problem = _subset_problem(f"output.{key}", output.get(key, _MISSING), wanted)
        if problem:
            result.failures.append(f"node `{result.end}`: {problem}")
    if expect.path is not None and result.path != expect.path:
        first = next(
            (i for i, (a, b) in enumerate(zip(result.path, expect.path, strict=False)) if a != b),
            min(len(result.path), len(expect.path)),
        )
        got = result.path[first] if first < len(result.path) else "(the end)"
        want = expect.path[first] if first < len(expect.path) else "(the end)"
        result.failures.append(
            f"node `{got}`: step {first + 1} of the path is `{got}`, the case expects `{want}`"
        )
    return result


_MISSING = object()


def _subset_problem(where: str, got: Any, wanted: Any) -> str | None:
    """Why ``got`` does not contain ``wanted`` (mappings: a subset; else equal)."""
    if got is _MISSING:
        return f"`{where}` is missing, the case expects {wanted!r}"
    if isinstance(wanted, dict) and isinstance(got, dict):
        for key, value in wanted.items():
            problem = _subset_problem(f"{where}.{key}", got.get(key, _MISSING), value)
            if problem:
                return problem
        return None
    if got != wanted:
        return f"`{where}` is {got!r}, the case expects {wanted!r}"
    return None


def _finish(result: CaseResult, run: Run) -> CaseResult:
    result.status = run.status.value
    steps = [s for s in load_trace(run.id) if s.status.value == "ok"]
    result.path = [s.node for s in steps]
    result.end = (run.output or {}).get("end")
    return result
