"""Failed steps keep what they need: a tool's arguments and its own traceback; an llm
step's finish reason, and a text answer cut off by max_tokens flagged or failed."""

from __future__ import annotations

from typing import Any

from agents.model_client import ModelCall
from agents.runner import execute_run, start_run
from agents.trace import load_trace
from forgeyard.models import RunStatus, StepStatus
from tests.support.specs import spec_dict, to_yaml
from workflows.loader import load_spec_text


def one_node_spec(node: dict, into: str = "result", state: dict | None = None) -> str:
    spec = spec_dict(
        state=state or {into: {"type": "object"}},
        start="work",
        nodes={"work": node, "done": {"kind": "end", "output": {"r": into}}},
        edges=[{"from": "work", "to": "done"}],
    )
    return to_yaml(spec)


def run_once(text: str, model: Any = None):
    run = start_run(load_spec_text(text), {"a": 1})
    return execute_run(run.id, model=model)


def test_a_failed_tool_try_records_its_arguments_and_the_tools_own_traceback(sqlite_db):
    text = one_node_spec(
        {
            "kind": "tool",
            "tool": "test.flaky",
            "args": {"key": "'traceback-test'", "failures": "5"},
            "into": "result",
            "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
        }
    )
    run = run_once(text)
    assert run.status == RunStatus.failed
    tries = [s for s in load_trace(run.id) if s.node == "work"]
    assert [s.status for s in tries] == [StepStatus.error, StepStatus.error]
    for step in tries:
        assert step.input == {"key": "traceback-test", "failures": 5}
        assert step.output["exception"] == "RuntimeError"
        trace = step.output["traceback"]
        # From the tool's own frame down: its file and line, none of the runtime's.
        assert trace.startswith('  File "') and "tests/support/tools.py" in trace
        assert ", in flaky\n" in trace
        assert 'raise RuntimeError(f"transient failure' in trace
        assert "agents/nodes.py" not in trace
        assert trace.endswith("RuntimeError: transient failure " + str(step.attempt))


def test_a_refused_tool_try_records_its_arguments(sqlite_db):
    text = one_node_spec(
        {
            "kind": "tool",
            "tool": "test.refuse",
            "args": {"reason": "'no such port'"},
            "into": "result",
        }
    )
    run = run_once(text)
    (step,) = [s for s in load_trace(run.id) if s.node == "work"]
    assert step.status == StepStatus.error
    assert step.input == {"reason": "no such port"}


class CutOff:
    """A model whose text answers stop at max_tokens."""

    model = "cut-off"
    base_url = "http://127.0.0.1:9/v1"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: list[dict[str, Any]], **_: Any) -> ModelCall:
        self.calls += 1
        return ModelCall(
            model=self.model,
            messages=messages,
            text="Your booking is confirmed for",
            parsed="Your booking is confirmed for",
            usage={"prompt_tokens": 12, "completion_tokens": 8},
            finish_reason="length",
        )


def llm_spec(**model: Any) -> str:
    node = {
        "kind": "llm",
        "prompt": "Confirm {{ input.a }}",
        "output": {"into": "note"},
        "model": {"max_tokens": 8, **model},
        "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
    }
    return one_node_spec(node, into="note", state={"note": {"type": "string"}})


def test_an_llm_step_records_its_finish_reason_and_a_cut_off_answer_is_flagged(sqlite_db):
    run = run_once(llm_spec(), CutOff())
    assert run.status == RunStatus.succeeded
    (step,) = [s for s in load_trace(run.id) if s.node == "work"]
    assert step.usage["finish_reason"] == "length"
    assert step.usage["truncated"] is True


def test_a_cut_off_answer_fails_the_try_when_the_node_says_so(sqlite_db):
    model = CutOff()
    run = run_once(llm_spec(on_truncated="fail"), model)
    assert run.status == RunStatus.failed
    assert "cut off at max_tokens (8)" in run.error
    tries = [s for s in load_trace(run.id) if s.node == "work"]
    assert [s.status for s in tries] == [StepStatus.error, StepStatus.error] and model.calls == 2
    assert tries[0].completion == "Your booking is confirmed for"
    assert tries[0].usage["truncated"] is True


def test_the_option_leaves_existing_spec_hashes_alone():
    assert load_spec_text(llm_spec()).hash == load_spec_text(llm_spec(on_truncated="flag")).hash
    assert load_spec_text(llm_spec()).hash != load_spec_text(llm_spec(on_truncated="fail")).hash
