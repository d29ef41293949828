"""A run's reward (the tenant's reward models, per grader) and labelling it from the console."""

from __future__ import annotations

from tests.support.console import login
from tests.support.reward_models import register, rm_yaml
from worker.runs import process_run

GRADERS = (
    {"name": "positive", "kind": "constraint", "expr": "output.total > 0"},
    {"name": "big", "kind": "constraint", "expr": "output.total > 100"},
)


def _finished(tenant) -> str:  # type: ignore[no-untyped-def]
    run = tenant.submit({"a": 1, "b": 2})
    process_run(run["id"])
    return run["id"]


def test_the_rewards_panel_scores_the_run_per_grader(tenant, tenant_factory):
    run_id = _finished(tenant)
    register(tenant, rm_yaml(*GRADERS, name="adder_rm", workflow="adder"))
    other = tenant_factory()
    other.register()
    register(other, rm_yaml(*GRADERS, name="their_rm", workflow="adder"))
    login(tenant.client, tenant.token)
    panel = tenant.client.get(f"/ui/runs/{run_id}/rewards", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert "<html" not in panel.text  # a fragment for htmx
    assert "adder_rm" in panel.text and "their_rm" not in panel.text
    rows = panel.text.split('class="grader-row"')[1:]
    assert len(rows) == 2
    assert "<td>big</td>" in rows[0] and "<td>0.000</td>" in rows[0]
    assert "<td>positive</td>" in rows[1] and "<td>1.000</td>" in rows[1]
    assert "0.500" in rows[0]  # the weighted total
    full = tenant.client.get(f"/ui/runs/{run_id}/rewards")
    assert "<html" in full.text and "adder_rm" in full.text


def test_labels_from_the_form_are_recorded_through_the_labels_api(tenant):
    run_id = _finished(tenant)
    twin = _finished(tenant)  # same input: the same task, so a preference is allowed
    csrf = login(tenant.client, tenant.token)
    saved = tenant.client.post(
        f"/ui/runs/{run_id}/labels",
        data={"csrf": csrf, "score": "0.75", "preferred_over": "", "note": "good pick"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and "Label%20saved" in saved.headers["location"]
    preferred = tenant.client.post(
        f"/ui/runs/{run_id}/labels", data={"csrf": csrf, "preferred_over": twin}
    )
    assert preferred.status_code == 200
    labels = tenant.get(f"/v1/runs/{run_id}/labels").json()
    assert [(x["kind"], x["score"], x["rejected_run_id"]) for x in labels] == [
        ("score", 0.75, None),
        ("preference", None, twin),
    ]
    assert labels[0]["by"] == "tests"  # the key's principal, as the API records it
    assert "good pick" in preferred.text  # the run page lists its labels

    for data, field in (
        ({"score": "2"}, "score"),
        ({"score": "x"}, "score"),
        ({}, "exactly one of"),
        ({"score": "0.5", "preferred_over": twin}, "exactly one of"),
    ):
        bad = tenant.client.post(f"/ui/runs/{run_id}/labels", data={"csrf": csrf, **data})
        assert bad.status_code == 422 and field in bad.text, (data, bad.text)
    assert len(tenant.get(f"/v1/runs/{run_id}/labels").json()) == 2
    no_token = tenant.client.post(f"/ui/runs/{run_id}/labels", data={"score": "1"})
    assert no_token.status_code == 403
