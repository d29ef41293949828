"""Labelling runs over HTTP: scores and preferences, tenant-scoped."""

from __future__ import annotations

from worker.runs import process_run


def finished_run(tenant, a: float = 1) -> str:  # type: ignore[no-untyped-def]
    run_id = tenant.submit({"a": a})["id"]
    process_run(run_id)
    return str(run_id)


def test_score_and_preference_are_recorded_and_listed(tenant):
    first, second = finished_run(tenant), finished_run(tenant)
    scored = tenant.post(f"/v1/runs/{first}/labels", json={"score": 0.75, "note": "ok"})
    assert scored.status_code == 201
    label = scored.json()
    assert (label["kind"], label["score"], label["workflow"]) == ("score", 0.75, "adder")
    assert label["by"] == "tests" and label["note"] == "ok"
    preferred = tenant.post(
        f"/v1/runs/{second}/labels", json={"preferred_over": first, "by": "ana"}
    )
    assert preferred.status_code == 201
    assert (preferred.json()["run_id"], preferred.json()["rejected_run_id"]) == (second, first)

    listed = tenant.get(f"/v1/runs/{first}/labels").json()
    assert [(x["kind"], x["by"]) for x in listed] == [
        ("score", "tests"),
        ("preference", "ana"),
    ]
    assert [x["kind"] for x in tenant.get(f"/v1/runs/{second}/labels").json()] == ["preference"]


def test_a_preference_needs_two_runs_of_the_same_task(tenant):
    run, other_task = finished_run(tenant, 1), finished_run(tenant, 2)
    response = tenant.post(f"/v1/runs/{run}/labels", json={"preferred_over": other_task})
    assert response.status_code == 422
    assert "answer different tasks" in response.json()["detail"]
    itself = tenant.post(f"/v1/runs/{run}/labels", json={"preferred_over": run})
    assert itself.status_code == 422 and "twice" in itself.json()["detail"]
    unknown = tenant.post(f"/v1/runs/{run}/labels", json={"preferred_over": "nope"})
    assert unknown.status_code == 422 and "No run `nope`" in unknown.json()["detail"]


def test_bad_labels_are_422(tenant):
    run = finished_run(tenant)
    for body in (
        {},
        {"score": 0.5, "preferred_over": run},
        {"score": 1.5},
        {"score": -0.1},
        {"score": "high"},
        {"score": 0.5, "by": ""},
        {"score": 0.5, "colour": 1},
    ):
        response = tenant.post(f"/v1/runs/{run}/labels", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"], body
    assert tenant.get(f"/v1/runs/{run}/labels").json() == []


def test_other_tenants_runs_are_not_found(tenant, tenant_factory):
    run = finished_run(tenant)
    other = tenant_factory()
    other.register()
    own = finished_run(other)
    for response in (
        other.post(f"/v1/runs/{run}/labels", json={"score": 1.0}),
        other.get(f"/v1/runs/{run}/labels"),
        tenant.get("/v1/runs/nope/labels"),
    ):
        assert response.status_code == 404, response.text
    assert other.get(f"/v1/runs/{run}/labels").json()["detail"] == f"No run `{run}`."
    # Nor can another tenant's run be the one a preference beats.
    across = other.post(f"/v1/runs/{own}/labels", json={"preferred_over": run})
    assert across.status_code == 422 and f"No run `{run}`" in across.json()["detail"]
    assert tenant.get(f"/v1/runs/{run}/labels").json() == []
