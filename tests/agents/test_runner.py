"""Running specs end to end without a model: tools, routes, approvals, retries, failures.

Each test runs on SQLite and on PostgreSQL (the `any_db` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from agents.runner import InputInvalid, RunStateError, decide, execute_run, start_run
from agents.trace import load_trace
from forgeyard.db import session_scope
from forgeyard.models import Effect, EffectStatus, Run, RunStatus, StepStatus
from tests.support import tools
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from workflows.loader import load_spec, load_spec_text


def run_spec(spec_text: str, run_input: dict, **kwargs) -> Run:
    run = start_run(load_spec_text(spec_text), run_input, **kwargs)
    return execute_run(run.id)


def nodes_of(run_id: str) -> list[tuple[str, str]]:
    return [(s.node, s.status.value) for s in load_trace(run_id)]


def test_small_total_skips_approval_and_pays_once(any_db):
    run = run_spec(spec_yaml(), {"a": 2, "b": 1})
    assert run.status == RunStatus.succeeded
    assert run.output == {"end": "done", "total": 3, "paid": 3}
    assert nodes_of(run.id) == [
        ("add", "ok"),
        ("check", "ok"),
        ("pay", "ok"),
        ("gate", "ok"),
        ("done", "ok"),
    ]
    gate = load_trace(run.id)[3]
    assert gate.output == {"approved": True, "required": False, "by": "policy", "comment": None}
    with session_scope() as s:
        effects = list(s.exec(select(Effect).where(Effect.run_id == run.id)))
    assert [(e.node, e.call_index, e.status) for e in effects] == [("pay", 0, EffectStatus.done)]
    assert effects[0].response == {"charged": 3, "key": f"{run.id}:pay:0"}


def test_route_to_other_end(any_db):
    run = run_spec(spec_yaml(), {"a": 50})
    assert run.status == RunStatus.succeeded
    assert run.output == {"end": "too_big", "rejected": 50}
    assert [n for n, _ in nodes_of(run.id)] == ["add", "check", "too_big"]


def test_config_override_changes_the_route(any_db):
    run = run_spec(spec_yaml(), {"a": 50}, config={"limit": 100})
    assert run.status == RunStatus.waiting_approval
    assert run.config == {"limit": 100}


def test_approval_interrupt_then_approve_resumes_from_checkpoint(any_db):
    run = run_spec(spec_yaml(), {"a": 7})
    assert run.status == RunStatus.waiting_approval
    assert run.pending_approval == {"node": "gate", "message": "Pay 7?"}
    charges_before = tools.calls["test.charge"]

    done = decide(run.id, approved=True, by="alice", comment="fine")
    assert done.status == RunStatus.succeeded
    assert done.output == {"end": "done", "total": 7, "paid": 7}
    # Resuming continued after the checkpoint: nothing before the approval ran again.
    assert tools.calls["test.charge"] == charges_before
    assert nodes_of(run.id) == [
        ("add", "ok"),
        ("check", "ok"),
        ("pay", "ok"),
        ("gate", "interrupted"),
        ("gate", "ok"),
        ("done", "ok"),
    ]
    decision = load_trace(run.id)[4].output
    assert decision == {"approved": True, "required": True, "by": "alice", "comment": "fine"}


def test_rejection_takes_on_reject_path(any_db):
    run = run_spec(spec_yaml(), {"a": 7})
    done = decide(run.id, approved=False, by="bob", comment="too much")
    assert done.output == {"end": "too_big", "rejected": 7}


def test_decide_on_run_not_waiting_is_refused(any_db):
    run = run_spec(spec_yaml(), {"a": 1})
    with pytest.raises(RunStateError, match="is succeeded, not waiting"):
        decide(run.id, approved=True, by="x")


def test_finished_run_is_not_executed_again(any_db):
    run = run_spec(spec_yaml(), {"a": 1})
    steps = len(load_trace(run.id))
    again = execute_run(run.id)
    assert again.status == RunStatus.succeeded
    assert len(load_trace(run.id)) == steps


def test_invalid_input_names_the_field_and_creates_no_run(any_db):
    with pytest.raises(InputInvalid) as info:
        start_run(load_spec_text(spec_yaml()), {"a": "four", "zzz": 1})
    text = str(info.value)
    assert "input.a: 'four' is not of type 'number'" in text
    assert "'zzz' was unexpected" in text
    with pytest.raises(InputInvalid, match=r"config\.nope"):
        start_run(load_spec_text(spec_yaml()), {"a": 1}, config={"nope": 1})
    with session_scope() as s:
        assert list(s.exec(select(Run))) == []


def _one_tool_spec(node: dict) -> str:
    spec = spec_dict(
        state={"result": {"type": "object"}},
        start="work",
        nodes={
            "work": {**node, "into": "result"},
            "done": {"kind": "end", "output": {"r": "result"}},
        },
        edges=[{"from": "work", "to": "done"}],
    )
    return to_yaml(spec)


def test_retry_policy_retries_and_records_each_try(any_db):
    text = _one_tool_spec(
        {
            "kind": "tool",
            "tool": "test.flaky",
            "args": {"key": f"'{any_db[-12:]}'", "failures": "2"},
            "retry": {"max_attempts": 3, "backoff_seconds": 0.01},
        }
    )
    run = run_spec(text, {"a": 1})
    assert run.status == RunStatus.succeeded
    assert run.output["r"] == {"ok": True, "after_failures": 2}
    work = [s for s in load_trace(run.id) if s.node == "work"]
    assert [(s.attempt, s.status) for s in work] == [
        (1, StepStatus.error),
        (2, StepStatus.error),
        (3, StepStatus.ok),
    ]
    assert "transient failure 1" in work[0].error


def test_exhausted_retries_fail_the_run_with_the_error(any_db):
    text = _one_tool_spec(
        {
            "kind": "tool",
            "tool": "test.flaky",
            "args": {"key": f"'x{any_db[-12:]}'", "failures": "5"},
            "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
        }
    )
    run = run_spec(text, {"a": 1})
    assert run.status == RunStatus.failed
    assert "node `work` failed: RuntimeError: transient failure 2" in run.error
    assert run.finished_at is not None


def test_tool_refusal_fails_without_retry(any_db):
    text = _one_tool_spec(
        {
            "kind": "tool",
            "tool": "test.refuse",
            "args": {"reason": "'no such port'"},
            "retry": {"max_attempts": 3, "backoff_seconds": 0.01},
        }
    )
    run = run_spec(text, {"a": 1})
    assert run.status == RunStatus.failed
    assert run.error == "node `work`: tool `test.refuse` refused: no such port"
    assert len(load_trace(run.id)) == 1


def test_node_timeout(any_db):
    text = _one_tool_spec(
        {
            "kind": "tool",
            "tool": "test.sleep",
            "args": {"seconds": "1.5"},
            "timeout_seconds": 0.2,
        }
    )
    run = run_spec(text, {"a": 1})
    assert run.status == RunStatus.failed
    assert run.error == "node `work` timed out after 0.2 s"


def test_run_is_pinned_to_the_spec_it_started_with(any_db, tmp_path: Path):
    path = tmp_path / "adder.yaml"
    path.write_text(spec_yaml())
    run = start_run(load_spec(path), {"a": 7})
    assert execute_run(run.id).status == RunStatus.waiting_approval

    # A redeploy changes the spec on disk while the run waits.
    changed = spec_dict(version="2")
    changed["nodes"]["done"]["output"] = {"v2": "true"}
    path.write_text(to_yaml(changed))

    done = decide(run.id, approved=True, by="alice")
    assert done.output == {"end": "done", "total": 7, "paid": 7}
    assert done.workflow_version == "1"
    new_run = start_run(load_spec(path), {"a": 7})
    assert new_run.spec_hash != run.spec_hash


def test_model_server_down_fails_the_step_with_a_clear_error(any_db, monkeypatch):
    import socket

    from forgeyard.settings import get_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", url)
    monkeypatch.setenv("FORGEYARD_MODEL_CONNECT_RETRIES", "2")
    monkeypatch.setenv("FORGEYARD_MODEL_RETRY_BACKOFF_SECONDS", "0.01")
    get_settings.cache_clear()
    text = to_yaml(
        spec_dict(
            state={"answer": {"type": "object"}},
            start="ask",
            nodes={
                "ask": {
                    "kind": "llm",
                    "prompt": "a is {{ input.a }}",
                    "output": {"into": "answer", "schema": {"type": "object"}},
                },
                "done": {"kind": "end", "output": {"answer": "answer"}},
            },
            edges=[{"from": "ask", "to": "done"}],
        )
    )
    run = run_spec(text, {"a": 1})
    assert run.status == RunStatus.failed
    assert run.error.startswith(f"node `ask`: model server unreachable at {url} after 2 tries (")
    assert "Traceback" not in run.error
    (step,) = load_trace(run.id)
    assert step.status == StepStatus.error and step.error == run.error


def test_tool_result_that_is_not_json_fails_clearly(any_db):
    run = run_spec(_one_tool_spec({"kind": "tool", "tool": "test.opaque"}), {"a": 1})
    assert run.status == RunStatus.failed
    assert run.error.startswith("node `work`: tool `test.opaque` returned a value that is not")
