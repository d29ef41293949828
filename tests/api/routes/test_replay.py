"""Replay and fork over HTTP: new runs linked to their source; bad requests create nothing.

A worker is called in-process here (``process_run``); tests/worker/test_replay.py
uses a real one.
"""

from __future__ import annotations

from sqlmodel import func, select

from forgeyard.db import session_scope
from forgeyard.models import Effect, Run
from worker.runs import process_run


def _finished_run(tenant, run_input: dict) -> str:  # type: ignore[no-untyped-def]
    run_id = tenant.submit(run_input)["id"]
    process_run(run_id)
    assert tenant.get(f"/v1/runs/{run_id}").json()["status"] == "succeeded"
    return run_id


def _count(table: type) -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def test_recorded_replay_is_a_new_run_linked_to_its_source(tenant):
    source = _finished_run(tenant, {"a": 2, "b": 1})
    response = tenant.post(f"/v1/runs/{source}/replay", json={"mode": "recorded"})
    assert response.status_code == 202, response.text
    replay = response.json()
    assert (replay["kind"], replay["parent_run_id"], replay["status"]) == (
        "replay_recorded",
        source,
        "queued",
    )
    assert response.headers["Location"] == f"/v1/runs/{replay['id']}"
    assert replay["links"]["parent"] == f"/v1/runs/{source}"
    process_run(replay["id"])
    done = tenant.get(f"/v1/runs/{replay['id']}").json()
    assert done["status"] == "succeeded"
    assert done["replay"]["result"] == "identical"
    assert done["output"] == tenant.get(f"/v1/runs/{source}").json()["output"]
    assert tenant.get(f"/v1/runs/{source}").json()["kind"] == "run"


def test_fork_over_http_runs_in_the_sandbox(tenant):
    source = _finished_run(tenant, {"a": 2, "b": 1})
    effects = _count(Effect)
    body = {
        "at_step": {"node": "add"},
        "patch": [{"op": "replace", "path": "/total/sum", "value": 4}],
    }
    response = tenant.post(f"/v1/runs/{source}/fork", json=body)
    assert response.status_code == 202, response.text
    fork = response.json()
    assert (fork["kind"], fork["parent_run_id"]) == ("fork", source)
    assert fork["replay"]["at_step"] == {"seq": 1, "node": "add", "visit": 0}
    process_run(fork["id"])
    done = tenant.get(f"/v1/runs/{fork['id']}").json()
    assert done["status"] == "succeeded" and done["output"]["paid"] == 4
    pay = [s for s in tenant.get(f"/v1/runs/{fork['id']}/steps").json() if s["node"] == "pay"]
    assert pay[0]["output"]["charged"] == 4
    assert _count(Effect) == effects


def test_bulk_replay_counts_identical(tenant):
    for a in (1, 2, 3):
        _finished_run(tenant, {"a": a})
    response = tenant.post("/v1/workflows/adder/replays", json={"last": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["replayed"], body["identical"], body["diverged"]) == (2, 2, 0)
    assert len(body["identical_replays"]) == 2
    assert tenant.post("/v1/workflows/nope/replays", json={"last": 2}).status_code == 404
    assert tenant.post("/v1/workflows/adder/replays", json={"last": 0}).status_code == 422


def test_bad_requests_are_4xx_naming_the_field_and_create_nothing(tenant, tenant_factory):
    source = _finished_run(tenant, {"a": 2, "b": 1})
    before = _count(Run)

    def refused(url: str, body: dict, code: int, field: str | None = None) -> dict:
        response = tenant.post(url, json=body)
        assert response.status_code == code, response.text
        problems = response.json()["problems"]
        if field is not None:
            assert field in [p["field"] for p in problems], problems
        return response.json()

    fork, replay = f"/v1/runs/{source}/fork", f"/v1/runs/{source}/replay"
    body = refused(fork, {"at_step": 42}, 422, "at_step")
    assert "no step 42" in body["detail"]
    refused(
        fork,
        {"at_step": 1, "patch": [{"op": "add", "path": "/total", "value": 1}]},
        422,
        "state.total",
    )
    refused(
        fork,
        {"at_step": 1, "patch": [{"op": "add", "path": "/nope", "value": 1}]},
        422,
        "patch[0].path",
    )
    refused(fork, {"at_step": 1, "patch": [{"op": "jump", "path": "/total"}]}, 422, "patch[0]")
    refused(fork, {"at_step": "first"}, 422)
    refused(replay, {"mode": "sideways"}, 422, "body.mode")
    refused(replay, {"mode": "recorded", "adapter": "x"}, 422, "adapter")
    refused("/v1/runs/nope/replay", {}, 404)
    other = tenant_factory()
    assert other.post(replay, json={}).status_code == 404
    assert other.post(fork, json={"at_step": 1}).status_code == 404
    waiting = tenant.submit({"a": 7})["id"]
    process_run(waiting)
    assert tenant.post(f"/v1/runs/{waiting}/replay", json={}).status_code == 409
    assert _count(Run) == before + 1  # the waiting run only


def test_lineage_lists_the_source_chain_and_the_replays_and_forks(tenant, tenant_factory):
    source = _finished_run(tenant, {"a": 2, "b": 1})
    replay = tenant.post(f"/v1/runs/{source}/replay", json={}).json()["id"]
    fork = tenant.post(f"/v1/runs/{source}/fork", json={"at_step": 1}).json()["id"]
    process_run(fork)
    fork_of_fork = tenant.post(f"/v1/runs/{fork}/fork", json={"at_step": 1}).json()["id"]

    body = tenant.get(f"/v1/runs/{source}/lineage").json()
    assert body["ancestors"] == []
    assert [(r["id"], r["kind"]) for r in body["children"]] == [
        (replay, "replay_recorded"),
        (fork, "fork"),
    ]
    body = tenant.get(f"/v1/runs/{fork_of_fork}/lineage").json()
    assert [r["id"] for r in body["ancestors"]] == [fork, source]
    assert body["children"] == []
    assert tenant_factory().get(f"/v1/runs/{source}/lineage").status_code == 404
