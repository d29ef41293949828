"""Console runs pages: the search list (the JSON API's filters, cursor pages) and one run."""

from __future__ import annotations

import re

from api.console import runs as runs_page
from tests.support.console import login
from worker.runs import process_run


def _run_ids(html: str) -> list[str]:
    return re.findall(r'class="run-link" href="/ui/runs/(\w+)"', html)


def test_search_by_status_and_workflow_and_page_by_cursor(tenant, monkeypatch):
    monkeypatch.setattr(runs_page, "PAGE_SIZE", 2)
    ids = [tenant.submit({"a": i, "b": 0})["id"] for i in range(3)]
    process_run(ids[0])  # a=0: succeeded
    login(tenant.client, tenant.token)

    first = tenant.client.get("/ui/runs")
    assert _run_ids(first.text) == ids[:0:-1]  # newest first, two per page
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older is not None
    second = tenant.client.get(older.group(1).replace("&amp;", "&"))
    assert _run_ids(second.text) == [ids[0]] and 'rel="next"' not in second.text

    done = tenant.client.get("/ui/runs", params={"status": "succeeded"})
    assert _run_ids(done.text) == [ids[0]]
    assert 'badge-succeeded">succeeded' in done.text
    assert _run_ids(tenant.client.get("/ui/runs", params={"workflow": "nope"}).text) == []
    bad = tenant.client.get("/ui/runs", params={"status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.text


def test_run_page_shows_each_step_with_its_input_and_output(tenant):
    run = tenant.submit({"a": 1, "b": 2})
    process_run(run["id"])
    login(tenant.client, tenant.token)
    page = tenant.client.get(f"/ui/runs/{run['id']}")
    assert page.status_code == 200
    steps = tenant.get(f"/v1/runs/{run['id']}/steps").json()
    for step in steps:
        assert f'id="step-{step["seq"]}"' in page.text
        assert f'<span class="node">{step["node"]}</span>' in page.text
    assert "&#34;sum&#34;: 3" in page.text  # the add step's output, escaped JSON
    # An approval not required by the policy is shown as such.
    assert "not required by the policy" in page.text


def test_search_by_a_field_of_the_input_the_key_and_the_time(tenant):
    small = tenant.submit({"a": 1, "b": 2})
    keyed = tenant.post(
        "/v1/workflows/adder/runs", json={"input": {"a": 7}}, headers={"Idempotency-Key": "k-47"}
    ).json()
    login(tenant.client, tenant.token)
    by_field = tenant.client.get("/ui/runs", params={"where": "input.a=7"})
    assert _run_ids(by_field.text) == [keyed["id"]]
    assert 'value="input.a=7"' in by_field.text  # the form keeps the search
    assert _run_ids(tenant.client.get("/ui/runs", params={"key": "k-47"}).text) == [keyed["id"]]
    both = tenant.client.get("/ui/runs", params=[("where", "input.a=1"), ("where", "input.b=2")])
    assert _run_ids(both.text) == [small["id"]]
    later = tenant.client.get("/ui/runs", params={"created_after": "2999-01-01T00:00"})
    assert _run_ids(later.text) == []
    for params, code, field in (
        ({"where": "request.a=1"}, 422, "where"),
        ({"created_after": "yesterday"}, 422, "created_after"),
        ({"cursor": "garbage"}, 400, "cursor"),
    ):
        bad = tenant.client.get("/ui/runs", params=params)
        assert bad.status_code == code and field in bad.text, (params, bad.status_code, bad.text)
