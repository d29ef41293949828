"""The ops console in a real headless Chromium, on the real stack.

uvicorn serves the API and the console, a Celery worker runs the logistics
workflow on the session's vLLM (the tiny model), PostgreSQL holds it all.
An operator logs in, searches, opens a run and its ``choose`` step, approves a
waiting run from the inbox and labels another.

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


def _screenshot(page, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = Path(os.environ.get("FORGEYARD_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)


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
    assert page.url.endswith("/ui/login")  # no session yet
    page.fill("input[name=api_key]", key.token)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/ui/runs")
    assert "tenant ops-browser" in page.inner_text("header")

    # Search with the list's filters.
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
    assert decision.by == f"console:api-key:{key.id}"

    # Label the other run.
    page.goto(f"{stack.url}/ui/runs/{bikes}")
    page.fill("form.label input[name=score]", "0.8")
    page.fill("form.label input[name=note]", "fine pick")
    page.click("button:has-text('Save label')")
    page.wait_for_url(f"**/ui/runs/{bikes}?notice=*")
    assert "Label saved (score 0.8)." in page.inner_text(".notice")
    labels = api.get(f"/v1/runs/{bikes}/labels").json()
    assert [(x["score"], x["note"]) for x in labels] == [(0.8, "fine pick")]
    page.close()
