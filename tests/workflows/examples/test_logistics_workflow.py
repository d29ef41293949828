"""The logistics booking workflow end to end against a real vLLM (CPU, tiny model).

Runs on SQLite and PostgreSQL. The tiny model has random weights: structured
output keeps its answers schema-valid, so the graph's plumbing is what is
tested here, not the model's judgement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from sqlmodel import select

from agents.model_client import ModelClient
from agents.runner import decide, execute_run, start_run
from agents.trace import load_trace
from forgeyard.db import session_scope
from forgeyard.models import Effect, EffectStatus, RunStatus, StepStatus
from workflows.catalog import EXAMPLES_DIR, resolve
from workflows.examples.logistics_booking.models import Booking

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
INPUTS = EXAMPLES_DIR / "logistics_booking" / "inputs"
NO_APPROVAL = {"approval_threshold_usd": 10**9}


@pytest.fixture
def model(model_server) -> ModelClient:
    return ModelClient(base_url=model_server.base_url, model=model_server.name)


def load_input(name: str) -> dict:
    return json.loads((INPUTS / name).read_text())


def bookings(run_id: str | None = None) -> list[Booking]:
    with session_scope() as session:
        query = select(Booking)
        if run_id is not None:
            query = query.where(Booking.run_id == run_id)
        return list(session.exec(query))


def test_structured_request_is_booked_exactly_once(any_db, model):
    run = start_run(resolve("logistics_booking"), load_input("structured.json"), config=NO_APPROVAL)
    run = execute_run(run.id, model=model)

    assert run.status == RunStatus.succeeded, run.error
    assert run.output["status"] == "booked"
    (booking,) = bookings()
    assert booking.run_id == run.id
    assert booking.reference == run.output["booking_reference"]
    assert booking.quote_id == run.output["quote_id"]

    steps = load_trace(run.id)
    assert [s.node for s in steps] == [
        "intake",
        "validate",
        "check_valid",
        "quote",
        "screen",
        "check_screen",
        "choose",
        "approve",
        "book",
        "confirm",
        "done",
    ]
    choose = steps[6]
    eligible = steps[4].output["eligible_quote_ids"]
    # The model could only pick a quote that exists and passed screening.
    assert choose.output["quote_id"] in eligible
    assert choose.input["schema"]["properties"]["quote_id"]["enum"] == eligible
    assert choose.model == "forgeyard-tiny"
    assert choose.prompt[-1]["role"] == "user" and eligible[0] in choose.prompt[-1]["content"]
    assert choose.token_ids["prompt"] and choose.token_ids["completion"]
    assert choose.usage["completion_tokens"] == len(choose.token_ids["completion"])
    assert choose.latency_ms > 0
    with session_scope() as session:
        (effect,) = session.exec(select(Effect).where(Effect.run_id == run.id))
    assert (effect.node, effect.status) == ("book", EffectStatus.done)
    assert effect.response["booking_reference"] == booking.reference


def test_free_text_request_goes_through_the_extract_node(any_db, model):
    run = start_run(resolve("logistics_booking"), load_input("free_text.json"), config=NO_APPROVAL)
    run = execute_run(run.id, model=model)

    assert run.status == RunStatus.succeeded, run.error
    steps = load_trace(run.id)
    assert [s.node for s in steps[:3]] == ["intake", "extract", "validate"]
    extract, validate = steps[1], steps[2]
    assert extract.status == StepStatus.ok and extract.kind == "llm"
    assert load_input("free_text.json")["text"] in extract.prompt[-1]["content"]
    schema = resolve("logistics_booking").spec.nodes["extract"].output.json_schema
    jsonschema.validate(json.loads(extract.completion), schema)
    # What the model extracted is what the validate tool was given, beside the
    # e-mail itself (it checks the extraction leaves out nothing screening needs).
    assert validate.input == {
        "request": extract.output,
        "source_text": load_input("free_text.json")["text"],
    }
    # A random-weight model rarely extracts a bookable request: whatever the
    # ending, it must be one of the workflow's ends, with its fields.
    assert run.output["end"] in {"done", "ask_shipper", "refused", "no_options"}
    if run.output["end"] == "ask_shipper":
        assert run.output["questions"] and run.output["status"] == "needs_information"


def test_approval_interrupts_and_resumes_to_one_booking(any_db, model):
    run = start_run(resolve("logistics_booking"), load_input("structured.json"))
    run = execute_run(run.id, model=model)
    assert run.status == RunStatus.waiting_approval
    assert run.pending_approval["node"] == "approve"
    assert "USD?" in run.pending_approval["message"]
    assert bookings() == []

    run = decide(run.id, approved=True, by="ops@shipper", comment="ok", model=model)
    assert run.status == RunStatus.succeeded, run.error
    assert len(bookings(run.id)) == 1
    decision = [s for s in load_trace(run.id) if s.node == "approve"][-1].output
    assert decision == {"approved": True, "required": True, "by": "ops@shipper", "comment": "ok"}


def test_rejected_booking_books_nothing(sqlite_db, model):
    run = execute_run(
        start_run(resolve("logistics_booking"), load_input("hazardous.json")).id, model=model
    )
    assert run.status == RunStatus.waiting_approval
    run = decide(run.id, approved=False, by="dg-desk", comment="no DG this week", model=model)
    assert run.output == {
        "end": "rejected",
        "status": "rejected",
        "by": "dg-desk",
        "comment": "no DG this week",
    }
    assert bookings() == []


# The crash points of the `book` step: inside the tool before its transaction
# commits, and after the ledger committed but before LangGraph's checkpoint.
CRASH_IN_TOOL = """
import functools
import workflows.examples.logistics_booking.tools as t
from workflows.tools import registry
tool = registry.get("logistics.book")
real = tool.fn
@functools.wraps(real)  # keeps the signature the spec's arguments are checked against
def crash_after_writing(*args, **kwargs):
    result = real(*args, **kwargs)
    os._exit(137)
object.__setattr__(tool, "fn", crash_after_writing)
"""
CRASH_AFTER_LEDGER = """
from agents.effects import EffectsLedger
real = EffectsLedger.call
def crash_after_commit(self, *args, **kwargs):
    real(self, *args, **kwargs)
    os._exit(137)
EffectsLedger.call = crash_after_commit
"""


@pytest.mark.parametrize(
    "crash", [CRASH_IN_TOOL, CRASH_AFTER_LEDGER], ids=["in-tool", "after-ledger"]
)
def test_step_killed_midway_and_resumed_books_once(any_db, model, model_server, crash):
    script = textwrap.dedent("""
        import os, sys
        from agents.model_client import ModelClient
        from agents.runner import execute_run, start_run
        from workflows.catalog import resolve
        {crash}
        run = start_run(resolve("logistics_booking"), {inp}, config={cfg})
        print(run.id, flush=True)
        execute_run(run.id, model=ModelClient(base_url={url!r}, model={name!r}))
        sys.exit("the crash did not happen")
    """).format(
        crash=crash,
        inp=load_input("structured.json"),
        cfg=NO_APPROVAL,
        url=model_server.base_url,
        name=model_server.name,
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 137, proc.stderr[-3000:]
    run_id = proc.stdout.split()[0]
    with session_scope() as session:
        (effect,) = session.exec(select(Effect).where(Effect.run_id == run_id))
    before = bookings(run_id)
    if crash is CRASH_IN_TOOL:
        # The tool's write died with its transaction; the ledger says "pending".
        assert effect.status == EffectStatus.pending and before == []
    else:
        assert effect.status == EffectStatus.done and len(before) == 1

    run = execute_run(run_id, model=model)

    assert run.status == RunStatus.succeeded, run.error
    (booking,) = bookings(run_id)
    assert booking.reference == run.output["booking_reference"]
    assert len(bookings()) == 1
    book_steps = [s for s in load_trace(run_id) if s.node == "book"]
    assert book_steps[-1].status == StepStatus.ok
