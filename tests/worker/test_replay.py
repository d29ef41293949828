"""Replays and forks executed by a real Celery worker, as any run is."""

from __future__ import annotations

from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Effect
from tests.support.service import wait_for


def _settled(tenant, run_id: str) -> dict:  # type: ignore[no-untyped-def]
    def done() -> dict | None:
        body = tenant.get(f"/v1/runs/{run_id}").json()
        return body if body["status"] not in ("queued", "running") else None

    return wait_for(done, timeout=120, what=f"run {run_id}")


def _effects(run_id: str) -> list[tuple[str, str]]:
    with session_scope() as s:
        rows = s.exec(select(Effect).where(Effect.run_id == run_id)).all()
    return [(e.node, e.status.value) for e in rows]


def test_a_worker_executes_replays_and_forks(tenant, start_worker):
    start_worker()
    source = tenant.submit({"a": 2, "b": 1})
    assert _settled(tenant, source["id"])["status"] == "succeeded"

    replay = tenant.post(f"/v1/runs/{source['id']}/replay", json={}).json()
    done = _settled(tenant, replay["id"])
    assert (done["kind"], done["status"], done["replay"]["result"]) == (
        "replay_recorded",
        "succeeded",
        "identical",
    )
    assert _effects(replay["id"]) == []

    # A fork with live effects waits for a person before its side effect, then makes it.
    fork = tenant.post(
        f"/v1/runs/{source['id']}/fork",
        json={
            "at_step": 1,
            "patch": [{"op": "replace", "path": "/total/sum", "value": 5}],
            "live_effects": True,
        },
    ).json()
    waiting = _settled(tenant, fork["id"])
    assert waiting["status"] == "waiting_approval", waiting["error"]
    assert waiting["pending_approval"]["node"] == "pay"
    assert _effects(fork["id"]) == []
    assert tenant.post(f"/v1/runs/{fork['id']}/approve", json={"by": "ops"}).status_code == 202
    done = _settled(tenant, fork["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["output"] == {"end": "done", "total": 5, "paid": 5}
    assert _effects(fork["id"]) == [("pay", "done")]
    assert _effects(source["id"]) == [("pay", "done")]
