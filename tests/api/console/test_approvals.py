"""The approvals inbox: waiting runs with their question, decided like the approve API does."""

from __future__ import annotations

from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Approval
from tests.support.console import login
from worker.runs import process_run


def _waiting(tenant) -> str:  # type: ignore[no-untyped-def]
    run = tenant.submit({"a": 3, "b": 4})  # 7 > 5: the gate asks a person
    process_run(run["id"])
    assert tenant.get(f"/v1/runs/{run['id']}").json()["status"] == "waiting_approval"
    return run["id"]


def test_inbox_lists_the_question_and_approving_queues_the_run(tenant):
    run_id = _waiting(tenant)
    done = tenant.submit({"a": 1, "b": 0})
    process_run(done["id"])
    csrf = login(tenant.client, tenant.token)
    inbox = tenant.client.get("/ui/approvals")
    assert "Pay 7?" in inbox.text and run_id in inbox.text and done["id"] not in inbox.text

    answer = tenant.client.post(
        f"/ui/runs/{run_id}/decision",
        data={"csrf": csrf, "decision": "approve", "comment": "fine", "back": "approvals"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/approvals")
    assert tenant.get(f"/v1/runs/{run_id}").json()["status"] == "queued"
    with session_scope() as s:
        (decision,) = s.exec(select(Approval).where(Approval.run_id == run_id))
    assert (decision.approved, decision.comment) == (True, "fine")
    assert decision.by == "tests"  # the key's principal, as the approve API records it
    process_run(run_id)
    page = tenant.client.get(f"/ui/runs/{run_id}").text
    assert "Approved by <b>tests</b>" in page
    assert run_id not in tenant.client.get("/ui/approvals").text


def test_a_decision_needs_the_csrf_token_and_a_waiting_run(tenant):
    run_id = _waiting(tenant)
    csrf = login(tenant.client, tenant.token)
    forged = tenant.client.post(
        f"/ui/runs/{run_id}/decision", data={"csrf": "x" * 43, "decision": "reject"}
    )
    assert forged.status_code == 403
    assert tenant.get(f"/v1/runs/{run_id}").json()["status"] == "waiting_approval"
    bad = tenant.client.post(
        f"/ui/runs/{run_id}/decision", data={"csrf": csrf, "decision": "maybe"}
    )
    assert bad.status_code == 422 and "decision" in bad.text
    first = tenant.client.post(
        f"/ui/runs/{run_id}/decision", data={"csrf": csrf, "decision": "reject"}
    )
    assert first.status_code == 200  # followed to the run page
    again = tenant.client.post(
        f"/ui/runs/{run_id}/decision", data={"csrf": csrf, "decision": "approve"}
    )
    assert again.status_code == 409 and "not waiting for an approval" in again.text
