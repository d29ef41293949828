"""The ops console in a real headless Chromium, on the real stack.

uvicorn serves the API and the console, a Celery worker runs the logistics
workflow on the session's vLLM (the tiny model), PostgreSQL holds it all.
An operator logs in, searches by a field of the input, opens a run and its
``choose`` step, approves a waiting run from the inbox, labels another, forks
the approved run at ``choose`` with another quote, finds the fork in the
lineage and compares the two.

Set ``FORGEYARD_CONSOLE_SCREENSHOTS=docs/img`` to write the README's screenshots.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Approval
from forgeyard.tenants import create_key, create_tenant
from tests.support.service import wait_for
from workflows.catalog import EXAMPLES_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUEST = json.loads((EXAMPLES_DIR / "logistics_booking/inputs/structured.json").read_text())


def _screenshot(page, name: str, tmp_path: Path, *, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    target = Path(os.environ.get("FORGEYARD_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=full_page)


def _submit(api: httpx.Client, run_input: dict) -> str:
    # Threshold 0: every booking waits for a person.
    body = {"input": run_input, "config": {"approval_threshold_usd": 0}}
    answer = api.post("/v1/workflows/logistics_booking/runs", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _settled(api: httpx.Client, run_id: str, timeout: float = 300) -> dict:
    def done() -> dict | None:
        body = api.get(f"/v1/runs/{run_id}").json()
        return body if body["status"] not in ("queued", "running") else None

    return dict(wait_for(done, timeout=timeout, what=f"run {run_id} to settle"))


def test_an_operator_finds_reads_approves_and_labels_runs(stack, browser, tmp_path):
    tenant = create_tenant("ops-browser")
    key = create_key(tenant.id, "browser test")
    api = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {key.token}"})
    furniture = _submit(api, REQUEST)
    bikes_input = copy.deepcopy(REQUEST)
    bikes_input["request"]["commodity"] = "bicycles"
    bikes = _submit(api, bikes_input)
    for run_id in (furniture, bikes):
        assert _settled(api, run_id)["status"] == "waiting_approval"

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.url}/ui/runs")
    assert "/ui/login?next=%2Fui%2Fruns" in page.url  # no session yet
    page.fill("input[name=api_key]", key.token)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/ui/runs")
    assert "tenant ops-browser" in page.inner_text("header")

    # Search by a field of the input, then by status and workflow.
    page.fill("input[name=where] >> nth=-1", "input.request.commodity=bicycles")
    page.click("button:has-text('Search')")
    page.wait_for_url("**where=input.request.commodity**")
    assert page.locator("a.run-link").all_inner_texts() == [bikes]
    page.goto(f"{stack.url}/ui/runs")
    page.select_option("select[name=status]", "waiting_approval")
    page.fill("input[name=workflow]", "logistics_booking")
    page.click("button:has-text('Search')")
    page.wait_for_url("**status=waiting_approval**")
    listed = page.locator("a.run-link").all_inner_texts()
    assert sorted(listed) == sorted([furniture, bikes])

    # Open a run and its `choose` step: the rendered prompt and the completion.
    page.click(f"a.run-link:has-text('{furniture}')")
    page.wait_for_url(f"**/ui/runs/{furniture}")
    steps = api.get(f"/v1/runs/{furniture}/steps").json()
    choose = next(s for s in steps if s["node"] == "choose" and s["status"] == "ok")
    item = page.locator(f"#step-{choose['seq']}")
    body = item.locator(".step-body")
    assert not body.is_visible()
    item.locator("summary").click()
    assert body.is_visible()
    text = body.inner_text()
    assert "You choose ocean-freight quotes for shippers." in text  # the system message
    assert "Answer with the quote id." in text  # the rendered user message
    assert choose["completion"] and choose["completion"] in text
    assert f"Model {choose['model']}" in text
    assert "Waiting for approval" in page.inner_text("#pending")
    _screenshot(page, "console-run.png", tmp_path)

    # Approve the furniture run from the inbox; the worker books it.
    page.click("nav >> text=Approvals")
    page.wait_for_url("**/ui/approvals")
    card = page.locator(f"#approval-{furniture}")
    assert "Book 8 x 40HC" in card.inner_text()
    card.locator("input[name=comment]").fill("checked the rate")
    card.locator("button.approve").click()
    page.wait_for_url("**/ui/approvals?notice=*")
    assert f"Run {furniture} approved." in page.inner_text(".notice")
    assert page.locator(f"#approval-{furniture}").count() == 0
    assert _settled(api, furniture)["status"] == "succeeded"
    with session_scope() as s:
        decision = s.exec(select(Approval).where(Approval.run_id == furniture)).one()
    assert (decision.approved, decision.comment) == (True, "checked the rate")
    assert decision.by == "browser test"  # the key's name

    # Label the other run.
    page.goto(f"{stack.url}/ui/runs/{bikes}")
    page.fill("form.label input[name=score]", "0.8")
    page.fill("form.label input[name=note]", "fine pick")
    page.click("button:has-text('Save label')")
    page.wait_for_url(f"**/ui/runs/{bikes}?notice=*")
    assert "Label saved (score 0.8)." in page.inner_text(".notice")
    labels = api.get(f"/v1/runs/{bikes}/labels").json()
    assert [(x["score"], x["note"]) for x in labels] == [(0.8, "fine pick")]

    # Fork the booked run after `choose` with another quote: the state edited as JSON.
    steps = api.get(f"/v1/runs/{furniture}/steps").json()
    screening = next(s for s in steps if s["node"] == "screen")["output"]
    chosen = choose["output"]["quote_id"]
    other = next(q for q in screening["eligible_quote_ids"] if q != chosen)
    page.goto(f"{stack.url}/ui/runs/{furniture}")
    item = page.locator(f"#step-{choose['seq']}")
    item.locator("summary").click()
    item.locator("a.fork-link").click()
    page.wait_for_url(f"**/ui/runs/{furniture}/fork?seq={choose['seq']}")
    editor = page.locator("textarea[name=state]")
    editor.fill("{ not json")
    page.click("button:has-text('Fork')")
    assert "Not valid" in page.inner_text(".json-problem")  # checked before it is sent
    assert "/fork?seq=" in page.url
    state = json.loads(page.evaluate("document.querySelector('textarea').defaultValue"))
    assert state["choice"] == {"quote_id": chosen}
    state["choice"]["quote_id"] = other
    editor.fill(json.dumps(state, indent=2))
    page.click("button:has-text('Fork')")
    page.wait_for_url("**/ui/runs/*?notice=Fork*")
    fork = page.url.split("/ui/runs/")[1].split("?")[0]
    assert fork != furniture
    assert "Fork of" in page.inner_text("#lineage")
    # The fork's own approval step asks again (threshold 0); approve it on its page.
    if _settled(api, fork)["status"] == "waiting_approval":
        page.goto(f"{stack.url}/ui/runs/{fork}")
        page.click("#pending button.approve")
        page.wait_for_url(f"**/ui/runs/{fork}?notice=*")
    done = _settled(api, fork)
    assert done["status"] == "succeeded" and done["output"]["quote_id"] == other
    booked = next(s for s in api.get(f"/v1/runs/{fork}/steps").json() if s["node"] == "book")
    assert booked["output"]["quote_id"] == other  # the sandbox booking, in the fork's trace

    # The source's lineage lists the fork; the diff shows where they part.
    page.goto(f"{stack.url}/ui/runs/{furniture}")
    lineage = page.locator("#lineage")
    assert fork in lineage.inner_text()
    lineage.locator(f"tr.child:has-text('{fork}') >> text=diff").click()
    page.wait_for_url(f"**/ui/diff/{furniture}/{fork}")
    assert f"after step {choose['seq']} (choose)" in page.inner_text("#fork-point")
    assert "First divergence" in page.inner_text("#verdict")
    assert page.locator(".diff-row.first").count() == 1
    rows = page.locator(".diff-row.diverged")
    book_row = rows.filter(has=page.locator("h3 > code", has_text="book"))
    assert other in book_row.inner_text() and chosen in book_row.inner_text()
    page.set_viewport_size({"width": 1280, "height": 1500})
    _screenshot(page, "console-diff.png", tmp_path, full_page=False)  # the top: where they part
    page.close()
