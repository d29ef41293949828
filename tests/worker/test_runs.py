"""The plain functions behind the tasks: leases, the sweeper, no-op deliveries, model outages."""

from __future__ import annotations

from datetime import timedelta

from agents.runner import get_run, start_run
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, utcnow
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from worker import runs
from workflows.loader import load_spec_text


def _run(text: str | None = None, **run_input) -> str:  # type: ignore[no-untyped-def]
    return start_run(load_spec_text(text or spec_yaml()), run_input or {"a": 1}).id


def _set(run_id: str, **values) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as s:
        run = s.get(Run, run_id)
        for key, value in values.items():
            setattr(run, key, value)
        s.add(run)


def test_lease_is_exclusive_until_it_expires(any_db):
    run_id = _run()
    first = runs.acquire_lease(run_id, "w1")
    assert first is not None and first.epoch == 1 and first.previous_owner is None
    assert runs.acquire_lease(run_id, "w2") is None
    assert first.renew()
    _set(run_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    second = runs.acquire_lease(run_id, "w2")
    assert second is not None and second.epoch == 2 and second.previous_owner == "w1"
    assert not first.renew()  # w1 learns it lost the run
    first.release()  # a lost lease's release leaves the new holder's alone
    assert get_run(run_id).lease_owner == "w2"


def test_process_run_does_nothing_for_finished_held_or_unknown_runs(any_db):
    done = _run()
    assert runs.process_run(done).status == RunStatus.succeeded
    assert runs.process_run(done) is None
    held = _run()
    assert runs.acquire_lease(held, "someone-alive") is not None
    assert runs.process_run(held) is None
    assert runs.process_run("no-such-run") is None


def test_sweeper_requeues_dead_workers_and_lost_messages_only(any_db, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(runs, "enqueue", lambda run_id: sent.append(run_id) or True)
    old = utcnow() - timedelta(hours=1)
    dead, lost, live, fresh, waiting, finished = (_run() for _ in range(6))
    _set(
        dead,
        status=RunStatus.running,
        lease_owner="gone",
        lease_expires_at=utcnow() - timedelta(seconds=5),
        enqueued_at=old,
    )
    _set(lost, enqueued_at=old)
    _set(
        live,
        status=RunStatus.running,
        lease_owner="alive",
        lease_expires_at=utcnow() + timedelta(minutes=1),
        enqueued_at=old,
    )
    _set(fresh, enqueued_at=utcnow())
    _set(waiting, status=RunStatus.waiting_approval, enqueued_at=old)
    _set(finished, status=RunStatus.succeeded, enqueued_at=old)
    assert sorted(runs.sweep()) == sorted([dead, lost])
    assert sorted(sent) == sorted([dead, lost])
    # Each is sent once per loss, not on every sweep.
    assert runs.sweep() == []


def test_model_server_down_fails_the_run_with_a_clear_error(any_db, monkeypatch):
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("FORGEYARD_MODEL_CONNECT_RETRIES", "2")
    monkeypatch.setenv("FORGEYARD_MODEL_RETRY_BACKOFF_SECONDS", "0.01")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    text = to_yaml(
        spec_dict(
            state={"answer": {"type": "object"}},
            start="ask",
            nodes={
                "ask": {"kind": "llm", "prompt": "Add {{ input.a }}", "output": {"into": "answer"}},
                "done": {"kind": "end", "output": {"answer": "answer"}},
            },
            edges=[{"from": "ask", "to": "done"}],
        )
    )
    run = runs.process_run(_run(text))
    assert run is not None and run.status == RunStatus.failed
    assert "127.0.0.1:9" in run.error and "ask" in run.error
    assert get_run(run.id).lease_owner is None  # released for whoever comes next


def test_a_database_error_mid_run_leaves_the_run_to_its_lease_not_failed(any_db, monkeypatch):
    """A connection the database closed (an outage, a restart) is not the run's failure."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    from agents.trace import load_trace

    sent: list[str] = []
    monkeypatch.setattr(runs, "enqueue", lambda run_id: sent.append(run_id) or True)
    run_id = _run()
    calls = []

    def connection_dies_at_first_step(step):  # type: ignore[no-untyped-def]
        calls.append(step.node)
        if len(calls) == 1:
            shutdown = psycopg.errors.AdminShutdown("terminating connection")
            raise sa_exc.OperationalError("UPDATE runs", {}, shutdown)

    monkeypatch.setattr(runs, "_stop_if_cancelled", connection_dies_at_first_step)
    assert runs.process_run(run_id) is None
    run = get_run(run_id)
    assert run.status == RunStatus.running and run.error is None  # not failed
    assert run.lease_owner is not None  # kept: it expires as a dead worker's would
    assert runs.sweep() == [] and sent == []  # not before the lease ran out

    _set(run_id, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert runs.sweep() == [run_id] and sent == [run_id]
    done = runs.process_run(run_id)
    assert done is not None and done.status == RunStatus.succeeded
    assert done.output == {"end": "done", "total": 1, "paid": 1}
    assert [s.status.value for s in load_trace(run_id)].count("abandoned") == 1
