"""Reward models over HTTP: register, list and show, evaluate (report as JSON and HTML)."""

from __future__ import annotations

import json

from rewards.store import process_evaluation
from tests.rewards.factories import spec_yaml
from tests.rewards.runs_support import ADDER_RM
from tests.support.reward_models import dataset_jsonl, evaluate, register, rm_yaml
from tests.support.specs import line_of
from worker.runs import process_run


def test_register_list_and_read(tenant):
    text = rm_yaml()
    created = tenant.post("/v1/reward-models", json={"yaml": text})
    assert created.status_code == 201
    rm = created.json()
    assert (rm["name"], rm["workflow"], rm["status"]) == ("test_rm", "logistics_booking", "draft")
    assert rm["spec"] == text and created.headers["Location"] == f"/v1/reward-models/{rm['id']}"
    # The same content again is the same version.
    again = tenant.post("/v1/reward-models", json={"yaml": text})
    assert again.status_code == 200 and again.json()["id"] == rm["id"]
    other = register(tenant, rm_yaml(description="v2"))
    assert other["id"] != rm["id"]
    listed = tenant.get("/v1/reward-models").json()
    assert {r["id"] for r in listed} == {rm["id"], other["id"]}
    assert tenant.get("/v1/reward-models", params={"workflow": "nope"}).json() == []
    assert tenant.get(f"/v1/reward-models/{rm['id']}").json() == rm
    assert tenant.get(f"/v1/reward-models/{rm['hash'][:12]}").json()["id"] == rm["id"]


def test_invalid_spec_is_422_with_line_numbers(tenant):
    text = spec_yaml(
        {"name": "q", "kind": "field_match", "path": "output..x", "value": 1},
        {"name": "r", "kind": "telepathy"},
    )
    response = tenant.post("/v1/reward-models", json={"yaml": text})
    assert response.status_code == 422
    problems = {p["field"]: p for p in response.json()["problems"]}
    assert problems["graders[1].kind"]["line"] == line_of(text, "kind: telepathy")
    assert "unknown grader kind" in problems["graders[1].kind"]["message"]
    assert problems["graders[0].path"]["line"] == line_of(text, "path: output..x")
    broken = tenant.post("/v1/reward-models", json={"yaml": "name: [unclosed"})
    assert broken.status_code == 422
    assert "malformed YAML" in broken.json()["problems"][0]["message"]
    assert tenant.post("/v1/reward-models", json={"yaml": "\x1f"}).status_code == 422
    assert tenant.post("/v1/reward-models", json={}).status_code == 422


def test_code_and_tenants_a_spec_may_not_name_over_http(tenant):
    text = spec_yaml(
        {"name": "shell", "kind": "python", "function": "os:system"}, tenant="someone-else"
    )
    response = tenant.post("/v1/reward-models", json={"yaml": text})
    assert response.status_code == 422
    problems = {p["field"]: p for p in response.json()["problems"]}
    assert "`os` may not be loaded" in problems["graders[0].function"]["message"]
    assert problems["graders[0].function"]["line"] == line_of(text, "function: os:system")
    assert problems["tenant"]["line"] == line_of(text, "tenant: someone-else")
    assert tenant.get("/v1/reward-models").json() == []


def test_other_tenants_reward_models_and_evaluations_are_not_found(tenant, tenant_factory):
    rm = register(tenant)
    evaluation = evaluate(tenant, rm["id"], dataset=dataset_jsonl())
    other = tenant_factory()
    assert other.get("/v1/reward-models").json() == []
    for response in (
        other.get(f"/v1/reward-models/{rm['id']}"),
        other.get(f"/v1/reward-models/{rm['hash'][:12]}"),
        other.post(f"/v1/reward-models/{rm['id']}/evaluations", json={"dataset": "{}"}),
        other.get(evaluation["links"]["self"]),
        other.get(evaluation["links"]["html"]),
    ):
        assert response.status_code == 404, response.text
    assert other.get(f"/v1/reward-models/{rm['id']}").json()["detail"] == (
        f"No reward-model version `{rm['id']}`."
    )
    # Under another of the owner's versions the evaluation is not found either.
    second = register(tenant, spec_yaml(description="other"))
    wrong = tenant.get(f"/v1/reward-models/{second['id']}/evaluations/{evaluation['id']}")
    assert wrong.status_code == 404


def test_evaluation_on_a_dataset_reports_json_and_html(tenant):
    rm = register(tenant)
    queued = evaluate(tenant, rm["id"], dataset=dataset_jsonl())
    assert (queued["status"], queued["progress"], queued["report"]) == ("queued", 0.0, None)
    assert queued["source"] == {"dataset": "request"}
    not_yet = tenant.get(queued["links"]["html"])
    assert not_yet.status_code == 409 and "queued" in not_yet.json()["detail"]

    process_evaluation(queued["id"])  # what the worker task calls
    done = tenant.get(queued["links"]["self"]).json()
    assert (done["status"], done["progress"], done["passed"]) == ("succeeded", 1.0, True)
    report = done["report"]
    assert report["dataset"]["examples"] == 4 and report["dataset"]["preferences"] == 1
    assert report["agreement"]["spearman"] == 1.0 and report["gate"]["passed"] is True
    assert report["evaluation_id"] == queued["id"]
    version = tenant.get(f"/v1/reward-models/{rm['id']}").json()
    assert version["status"] == "approved" and version["latest_evaluation_id"] == queued["id"]

    for response in (
        tenant.get(queued["links"]["html"]),
        tenant.get(queued["links"]["self"], headers={"Accept": "text/html"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "data:image/png;base64," in response.text and "test_rm" in response.text
    # A second run of the same message does nothing.
    assert process_evaluation(queued["id"]) is None


def test_dataset_problems_are_reported_and_a_failing_gate_sends_back_to_draft(tenant):
    rm = register(tenant)
    evaluation = evaluate(
        tenant, rm["id"], dataset=dataset_jsonl((0.0, 1.0, 0.0, 1.0)) + '{"id": "broken", \n'
    )
    process_evaluation(evaluation["id"])
    done = tenant.get(evaluation["links"]["self"]).json()
    assert done["status"] == "succeeded" and done["passed"] is False
    assert [p["line"] for p in done["report"]["dataset"]["problems"]] == [6]
    assert tenant.get(f"/v1/reward-models/{rm['id']}").json()["status"] == "draft"


def test_evaluation_on_recorded_runs_uses_their_labels(tenant):
    rm = register(tenant, spec_yaml(*ADDER_RM["graders"], name="adder_rm", workflow="adder"))
    runs = [tenant.submit({"a": a})["id"] for a in (1, 2)]
    for run_id in runs:
        process_run(run_id)
    assert tenant.post(f"/v1/runs/{runs[0]}/labels", json={"score": 0.9}).status_code == 201
    tasks = json.dumps({"input": {"a": 1}, "expected": {"sum": 1}}) + "\n"
    queued = evaluate(tenant, rm["id"], runs="status=succeeded", tasks=tasks)
    assert queued["source"] == {"runs": "status=succeeded", "tasks": True}
    process_evaluation(queued["id"])
    report = tenant.get(queued["links"]["self"]).json()["report"]
    assert report["dataset"]["examples"] == 2 and report["agreement"]["labelled"] == 1
    by_id = {e["id"]: e for e in report["per_example"]}
    assert by_id[runs[0]]["label"] == 0.9 and by_id[runs[0]]["graders"]["sum"] == 1.0
    assert by_id[runs[1]]["graders"]["sum"] is None  # no ground truth for a=2


def test_bad_evaluation_requests_are_4xx_with_a_message(tenant):
    rm = register(tenant)
    url = f"/v1/reward-models/{rm['id']}/evaluations"
    cases = [
        ({}, "exactly one of `dataset`"),
        ({"dataset": "{}", "runs": "limit=5"}, "exactly one of `dataset`"),
        ({"runs": "colour=red"}, "unknown run filter `colour`"),
        ({"runs": "limit=many"}, "invalid run filter"),
        ({"runs": "status=sleeping"}, "invalid run filter"),
        ({"dataset": "{}", "tasks": "{}"}, "use it with `runs`"),
        ({"runs": "limit=5", "tasks": "{not json"}, "<request>:1: not valid JSON"),
        ({"dataset": "{}", "extra": 1}, "extra"),
    ]
    for body, message in cases:
        response = tenant.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (body, response.text)
    assert (
        tenant.post("/v1/reward-models/nope/evaluations", json={"dataset": "{}"}).status_code == 404
    )
    assert tenant.get(f"{url}/nope").status_code == 404
    assert tenant.get(f"{url}/nope", params={"format": "pdf"}).status_code == 422
