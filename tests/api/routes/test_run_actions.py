"""Approve, reject and cancel over HTTP; a worker (called in-process here) carries them out."""

from __future__ import annotations

from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Effect
from worker.runs import process_run


def _waiting_run(tenant) -> str:  # type: ignore[no-untyped-def]
    run_id = tenant.submit({"a": 7})["id"]
    process_run(run_id)
    run = tenant.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "waiting_approval"
    assert run["links"]["approve"] == f"/v1/runs/{run_id}/approve"
    return run_id


def test_approve_is_recorded_in_the_trace_and_the_run_finishes(tenant):
    run_id = _waiting_run(tenant)
    # `by` is what the caller claims; the recorded approver is the key's principal.
    response = tenant.post(f"/v1/runs/{run_id}/approve", json={"by": "alice", "comment": "ok"})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    # A second decision while the first is pending is refused.
    assert tenant.post(f"/v1/runs/{run_id}/reject", json={}).status_code == 409
    process_run(run_id)
    run = tenant.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "succeeded" and run["output"]["paid"] == 7
    gate = [s for s in tenant.get(f"/v1/runs/{run_id}/steps").json() if s["node"] == "gate"]
    assert gate[-1]["output"] == {
        "approved": True,
        "required": True,
        "by": "tests",
        "comment": "ok",
    }
    with session_scope() as s:
        assert len(list(s.exec(select(Effect).where(Effect.run_id == run_id)))) == 1


def test_reject_takes_the_reject_path_and_records_the_key_as_who(tenant):
    run_id = _waiting_run(tenant)
    assert tenant.post(f"/v1/runs/{run_id}/reject").status_code == 202
    process_run(run_id)
    run = tenant.get(f"/v1/runs/{run_id}").json()
    assert run["output"] == {"end": "too_big", "rejected": 7}
    gate = [s for s in tenant.get(f"/v1/runs/{run_id}/steps").json() if s["node"] == "gate"]
    assert gate[-1]["output"]["by"] == "tests"  # the key's name


def test_approve_a_run_that_is_not_waiting_is_409(tenant):
    run_id = tenant.submit({"a": 1})["id"]
    response = tenant.post(f"/v1/runs/{run_id}/approve", json={"by": "x"})
    assert response.status_code == 409
    assert response.json()["detail"] == f"Run `{run_id}` is queued, not waiting for an approval."
    bad = tenant.post(f"/v1/runs/{run_id}/approve", json={"by": ""})
    assert bad.status_code == 422


def test_cancel_queued_run_then_worker_does_nothing_and_cancel_again_is_409(tenant):
    run_id = tenant.submit({"a": 1})["id"]
    response = tenant.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert process_run(run_id) is None
    assert tenant.get(f"/v1/runs/{run_id}/steps").json() == []
    again = tenant.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_a_waiting_run(tenant):
    run_id = _waiting_run(tenant)
    cancelled = tenant.post(f"/v1/runs/{run_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert tenant.post(f"/v1/runs/{run_id}/approve").status_code == 409
    # It had already paid: cancelling cannot undo that, so the output says so.
    (effect,) = cancelled["output"]["effects"]
    assert cancelled["output"]["cancelled"] is True
    assert effect["node"] == "pay" and effect["tool"] == "test.charge"
    assert effect["response"] == {"charged": 7, "key": f"{run_id}:pay:0"}
    assert effect["idempotency_key"] == f"{run_id}:pay:0"


def test_a_cancel_during_a_side_effect_reports_the_effect(tenant, monkeypatch):
    # The cancel arrives while `pay` is doing its effect: the run ends cancelled,
    # and the effect that step committed is in the output, not lost.
    import dataclasses
    import functools

    from worker.runs import cancel_run
    from workflows.tools import registry

    charge = registry.get("test.charge")

    @functools.wraps(charge.fn)  # the same arguments, for the spec's check
    def charge_while_cancelled(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = charge.fn(*args, **kwargs)
        cancel_run(kwargs["ctx"].run_id, tenant_id=tenant.id, by="ops")
        return result

    patched = dataclasses.replace(charge, fn=charge_while_cancelled)
    monkeypatch.setitem(registry._tools, "test.charge", patched)
    run_id = tenant.submit({"a": 3})["id"]
    process_run(run_id)
    run = tenant.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "cancelled" and run["error"] == "cancelled by ops"
    assert [e["node"] for e in run["output"]["effects"]] == ["pay"]
    assert run["output"]["effects"][0]["response"]["charged"] == 3


def test_cancelling_a_run_with_no_effect_says_none_were_made(tenant):
    run_id = tenant.submit({"a": 1})["id"]
    run = tenant.post(f"/v1/runs/{run_id}/cancel").json()
    assert run["output"] == {"cancelled": True, "effects": []}
