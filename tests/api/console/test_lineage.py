"""Replay, fork and diff from the console, through the replay and diff functions of the API."""

from __future__ import annotations

import json
import re

from sqlmodel import func, select

from forgeyard.db import session_scope
from forgeyard.models import Run
from tests.support.console import login
from worker.runs import process_run


def _finished(tenant, a: int = 1, b: int = 2) -> str:  # type: ignore[no-untyped-def]
    run = tenant.submit({"a": a, "b": b})
    process_run(run["id"])
    assert tenant.get(f"/v1/runs/{run['id']}").json()["status"] == "succeeded"
    return str(run["id"])


def _new_run_id(answer) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == 303, answer.text
    found = re.match(r"/ui/runs/(\w+)\?notice=", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def _runs() -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(Run)).one())


def _state_of(html: str) -> dict:
    text = re.search(r'<textarea name="state"[^>]*>(.*?)</textarea>', html, re.S)
    assert text, "no state editor on the page"
    return dict(json.loads(text.group(1).replace("&#34;", '"').replace("&amp;", "&")))


def test_fork_with_an_edited_state_shows_in_the_lineage_and_the_diff(tenant):
    source = _finished(tenant)
    csrf = login(tenant.client, tenant.token)
    form = tenant.client.get(f"/ui/runs/{source}/fork", params={"seq": 1})
    state = _state_of(form.text)
    assert state["total"] == {"sum": 3} and state["input"] == {"a": 1, "b": 2}
    state["total"]["sum"] = 4
    answer = tenant.client.post(
        f"/ui/runs/{source}/fork",
        data={"csrf": csrf, "seq": "1", "state": json.dumps(state)},
        follow_redirects=False,
    )
    fork = _new_run_id(answer)
    shown = tenant.get(f"/v1/runs/{fork}").json()
    assert (shown["kind"], shown["parent_run_id"]) == ("fork", source)
    assert shown["replay"]["patch"] == [{"op": "replace", "path": "/total/sum", "value": 4}]
    process_run(fork)
    assert tenant.get(f"/v1/runs/{fork}").json()["output"]["total"] == 4

    lineage = tenant.client.get(f"/ui/runs/{source}").text.split('id="lineage"')[1]
    assert f"/ui/runs/{fork}" in lineage and "fork" in lineage
    child = tenant.client.get(f"/ui/runs/{fork}").text.split('id="lineage"')[1]
    assert f"/ui/runs/{source}" in child

    diff = tenant.client.get(f"/ui/runs/{source}/diff", params={"other": fork})
    assert diff.status_code == 200 and diff.url.path == f"/ui/diff/{source}/{fork}"
    assert "is a fork of a after step 1 (<code>add</code>)" in diff.text
    assert 'class="diff-row same shared" id="diff-0"' in diff.text  # `add`: the shared history
    assert "First divergence at step 3: `pay` (visit 0) differs in input" in diff.text
    assert 'class="diff-row diverged first" id="diff-2"' in diff.text


def test_bad_forks_are_refused_naming_the_problem_and_create_nothing(tenant):
    source = _finished(tenant)
    csrf = login(tenant.client, tenant.token)
    before = _runs()
    cases = [
        ({"seq": "1", "state": "{not json"}, "state: not valid JSON"),
        ({"seq": "1", "state": "[1, 2]"}, "state: expected a JSON object"),
        ({"seq": "1", "state": json.dumps({"total": "three"})}, "state.total"),
        ({"seq": "99", "state": "{}"}, "at_step"),
    ]
    for data, message in cases:
        answer = tenant.client.post(f"/ui/runs/{source}/fork", data={"csrf": csrf, **data})
        assert answer.status_code == 422 and message in answer.text, (data, answer.text)
    assert _runs() == before
    assert tenant.client.get(f"/ui/runs/{source}/fork", params={"seq": 99}).status_code == 404


def test_recorded_and_what_if_replays_start_from_the_run_page(tenant):
    source = _finished(tenant)
    csrf = login(tenant.client, tenant.token)
    page = tenant.client.get(f"/ui/runs/{source}").text
    assert "Recorded replay" in page and "What-if replay" in page
    recorded = _new_run_id(
        tenant.client.post(
            f"/ui/runs/{source}/replay",
            data={"csrf": csrf, "mode": "recorded"},
            follow_redirects=False,
        )
    )
    process_run(recorded)
    body = tenant.get(f"/v1/runs/{recorded}").json()
    assert (body["kind"], body["parent_run_id"], body["status"]) == (
        "replay_recorded",
        source,
        "succeeded",
    )
    diff = tenant.client.get(f"/ui/diff/{source}/{recorded}").text
    assert "Identical" in diff
    what_if = _new_run_id(
        tenant.client.post(
            f"/ui/runs/{source}/replay",
            data={"csrf": csrf, "mode": "what_if", "adapter": ""},
            follow_redirects=False,
        )
    )
    assert tenant.get(f"/v1/runs/{what_if}").json()["kind"] == "replay_what_if"
    no_token = tenant.client.post(f"/ui/runs/{source}/replay", data={"mode": "recorded"})
    assert no_token.status_code == 403


def test_another_tenants_runs_cannot_be_diffed_forked_or_replayed(tenant, tenant_factory):
    mine = _finished(tenant)
    other = tenant_factory()
    other.register()
    theirs = _finished(other)
    csrf = login(tenant.client, tenant.token)
    assert tenant.client.get(f"/ui/diff/{mine}/{theirs}").status_code == 404
    assert tenant.client.get(f"/ui/runs/{theirs}/fork", params={"seq": 1}).status_code == 404
    data = {"csrf": csrf, "seq": "1", "state": "{}"}
    assert tenant.client.post(f"/ui/runs/{theirs}/fork", data=data).status_code == 404
    answer = tenant.client.post(f"/ui/runs/{theirs}/replay", data={"csrf": csrf})
    assert answer.status_code == 404
