"""Submitting, listing and reading runs; idempotency; malformed requests are 4xx."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Run
from worker.runs import process_run


def test_submit_answers_202_with_links_and_the_run_is_queued(tenant):
    response = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 2, "b": 1}})
    assert response.status_code == 202
    run = response.json()
    assert response.headers["Location"] == f"/v1/runs/{run['id']}"
    assert run["status"] == "queued" and run["workflow"] == "adder"
    assert run["links"]["events"] == f"/v1/runs/{run['id']}/events"
    assert tenant.get(run["links"]["self"]).json()["spec_hash"] == run["spec_hash"]


def test_run_output_steps_and_timings_after_a_worker_ran_it(tenant):
    run = tenant.submit({"a": 2, "b": 1})
    process_run(run["id"])
    done = tenant.get(f"/v1/runs/{run['id']}").json()
    assert done["status"] == "succeeded"
    assert done["output"] == {"end": "done", "total": 3, "paid": 3}
    assert done["duration_seconds"] >= 0 and done["finished_at"]
    steps = tenant.get(f"/v1/runs/{run['id']}/steps").json()
    assert [(s["seq"], s["node"]) for s in steps] == [
        (1, "add"),
        (2, "check"),
        (3, "pay"),
        (4, "gate"),
        (5, "done"),
    ]


def test_invalid_input_is_422_naming_the_field(tenant):
    response = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": "four"}})
    assert response.status_code == 422
    body = response.json()
    assert body["problems"] == [
        {"field": "input.a", "message": "'four' is not of type 'number'", "line": None}
    ]
    with session_scope() as s:
        assert list(s.exec(select(Run))) == []


def test_bad_requests_are_4xx_with_a_message(tenant):
    cases = [
        (
            dict(content=b'{"input": {"a": 1', headers={"Content-Type": "application/json"}),
            400,
            "Malformed JSON",
        ),
        (dict(json={"input": "not an object"}), 422, "body.input"),
        (dict(json={"input": {"a": 1}, "surprise": 1}), 422, "body.surprise"),
        (dict(json={"input": {"a": 1}, "webhook_url": "ftp://x"}), 422, "body.webhook_url"),
        (dict(json={"input": {"a": 1}, "config": {"nope": 1}}), 422, "config.nope"),
    ]
    for kwargs, code, needle in cases:
        response = tenant.post("/v1/workflows/adder/runs", **kwargs)
        assert response.status_code == code, (kwargs, response.text)
        assert needle in response.text
    unknown = tenant.post("/v1/workflows/nope/runs", json={"input": {}})
    assert unknown.status_code == 404 and "Unknown workflow `nope`" in unknown.text


def test_idempotency_key_same_body_same_run_other_body_409(tenant):
    key = {"Idempotency-Key": "order-17"}
    first = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 1}}, headers=key)
    again = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 1}}, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 2}}, headers=key)
    assert other.status_code == 409 and "order-17" in other.json()["detail"]


def test_fifty_concurrent_posts_with_one_key_create_one_run(tenant):
    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=tenant.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {**tenant.headers, "Idempotency-Key": "burst"}
            return await asyncio.gather(
                *[
                    client.post(
                        "/v1/workflows/adder/runs", json={"input": {"a": 1}}, headers=headers
                    )
                    for _ in range(50)
                ]
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    with session_scope() as s:
        assert len(list(s.exec(select(Run)))) == 1


def test_list_filters_and_cursor_pagination(tenant):
    ids = [tenant.submit({"a": i})["id"] for i in range(5)]
    process_run(ids[0])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tenant.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    done = tenant.get("/v1/runs", params={"status": "succeeded"}).json()["items"]
    assert [r["id"] for r in done] == [ids[0]]
    assert tenant.get("/v1/runs", params={"workflow": "other"}).json()["items"] == []
    assert tenant.get("/v1/runs", params={"cursor": "%%%"}).status_code == 400
    assert tenant.get("/v1/runs", params={"status": "bogus"}).status_code == 422
    assert tenant.get("/v1/runs", params={"limit": 0}).status_code == 422


def test_oversized_body_is_413(client, tenant, monkeypatch):
    from forgeyard.settings import get_settings
    from tests.support.service import new_client

    monkeypatch.setenv("FORGEYARD_MAX_REQUEST_BODY_BYTES", "1000")
    get_settings.cache_clear()
    small = new_client()
    big = {"input": {"a": 1, "pad": "x" * 2000}}
    response = small.post("/v1/workflows/adder/runs", json=big, headers=tenant.headers)
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit still holds
        yield b'{"input": {"pad": "'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}}'

    streamed = small.post(
        "/v1/workflows/adder/runs",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


def test_search_by_key_reached_node_and_json_fields(tenant):
    keyed = tenant.post(
        "/v1/workflows/adder/runs", json={"input": {"a": 3}}, headers={"Idempotency-Key": "o-4711"}
    ).json()
    assert keyed["idempotency_key"] == "o-4711"
    small, big = tenant.submit({"a": 2, "b": 1}), tenant.submit({"a": 50})
    for run in (keyed, small, big):
        process_run(run["id"])

    def found(*pairs: tuple[str, str]) -> list[str]:
        response = tenant.get("/v1/runs", params=list(pairs))
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert found(("idempotency_key", "o-4711")) == [keyed["id"]]
    assert found(("reached", "too_big")) == [big["id"]]
    assert found(("where", "input.a=2"), ("where", "input.b=1")) == [small["id"]]
    assert found(("where", "output.total=3")) == [small["id"], keyed["id"]]
    assert found(("where", "output.rejected=50"), ("status", "succeeded")) == [big["id"]]
    assert found(("status", "succeeded"), ("status", "waiting_approval")) == [
        big["id"],
        small["id"],
        keyed["id"],
    ]
    assert found(("created_after", "2000-01-01"), ("workflow", "adder"), ("limit", "1")) == [
        big["id"]
    ]


def test_search_refuses_unknown_and_malformed_filters_naming_them(tenant):
    cases = [
        ({"statuss": "failed"}, 422, "query.statuss", "unknown query parameter"),
        ({"where": "input.a"}, 422, "where", "expected FIELD=VALUE"),
        ({"where": "body.a=1"}, 422, "where", "starts with `input.` or `output.`"),
        ({"where": "input.a=\x00"}, 422, "where", "NUL"),
        ({"node": "add"}, 422, "node", "use `reached`"),
        ({"created_after": "last tuesday"}, 422, "query.created_after", "datetime"),
        (
            {"created_after": "2026-12-02", "created_before": "2026-12-01"},
            422,
            "created_before",
            "later",
        ),
    ]
    for params, code, field, needle in cases:
        response = tenant.get("/v1/runs", params=params)
        assert response.status_code == code, (params, response.text)
        problem = response.json()["problems"][0]
        assert problem["field"] == field and needle in problem["message"], (params, problem)
    # A lone surrogate can only arrive as bad UTF-8; it is refused, not read as U+FFFD.
    bad = tenant.get("/v1/runs?where=input.a%3D%ED%A0%80")
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "query.where"


def test_diff_of_two_runs(tenant):
    same_a, same_b, big = tenant.submit({"a": 2}), tenant.submit({"a": 2}), tenant.submit({"a": 50})
    for run in (same_a, same_b, big):
        process_run(run["id"])
    identical = tenant.get(f"/v1/runs/{same_a['id']}/diff/{same_b['id']}")
    assert identical.status_code == 200, identical.text
    body = identical.json()
    assert body["identical"] and body["first_divergence"] is None and body["same_workflow"]
    assert [s["node"] for s in body["steps"]] == ["add", "check", "pay", "gate", "done"]

    different = tenant.get(f"/v1/runs/{same_a['id']}/diff/{big['id']}").json()
    assert not different["identical"]
    assert different["input"] == [{"path": "input.a", "change": "changed", "a": 2, "b": 50}]
    first = different["first_divergence"]
    assert (first["index"], first["node"], first["fields"]) == (0, "add", ["input", "output"])
    assert different["steps"][-1]["node"] == "too_big" and different["steps"][-1]["a"] is None

    missing = tenant.get(f"/v1/runs/{same_a['id']}/diff/nope")
    assert missing.status_code == 404 and missing.json()["detail"] == "No run `nope`."
