"""Replay and fork the shipped logistics workflow, answered by the real (tiny) model on vLLM.

Recorded replays of varied runs are identical and reach neither the model
(counted at the server: vLLM's /metrics) nor the bookings or the effects
ledger; a changed tool diverges at its step; a what-if with another adapter
chooses differently and books nothing; a fork at ``choose`` with another
quote books only in its sandbox.  ``bench/replay.py`` does the same with 50 runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request

import pytest
from sqlmodel import func, select

from agents.model_client import ModelClient
from agents.replay import create_fork, create_replay
from agents.runner import decide, execute_run
from agents.trace import load_trace
from forgeyard.db import session_scope
from forgeyard.models import Effect, RunStatus, Step
from tests.support.logistics_runs import make_runs
from workflows.examples.logistics_booking import tools as logistics_tools
from workflows.examples.logistics_booking.models import Booking

pytestmark = pytest.mark.integration

ADAPTER = "replay-what-if"


def requests_served(server) -> float:  # type: ignore[no-untyped-def]
    """Completions the server has answered so far (its own counter)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    values = re.findall(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    assert values, "vLLM's /metrics has no vllm:request_success_total"
    return sum(float(v) for v in values)


def count(table: type) -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def digest(run_ids: list[str]) -> str:
    with session_scope() as s:
        rows = s.exec(select(Step).where(Step.run_id.in_(run_ids)).order_by(Step.id)).all()  # type: ignore[attr-defined]
        dump = [r.model_dump(mode="json") for r in rows]
    return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()


@pytest.fixture
def model(model_server) -> ModelClient:  # type: ignore[no-untyped-def]
    return ModelClient(base_url=model_server.base_url, model=model_server.name)


def test_recorded_replays_of_varied_runs_are_identical_without_model_or_effects(
    any_db, model_server, model
):
    sources = make_runs(10, model)
    outcomes = {(r.output or {}).get("status") for r in sources}
    assert {"booked", "needs_information", "refused", "rejected"} <= outcomes, outcomes
    before = digest([r.id for r in sources])
    served, bookings, effects = requests_served(model_server), count(Booking), count(Effect)

    replays = [execute_run(create_replay(r.id).id) for r in sources]

    assert [r.replay["result"] for r in replays] == ["identical"] * 10, [
        r.replay for r in replays if r.replay["result"] != "identical"
    ]
    assert [r.output for r in replays] == [r.output for r in sources]
    assert requests_served(model_server) == served, "a recorded replay called the model"
    assert (count(Booking), count(Effect)) == (bookings, effects)
    assert digest([r.id for r in sources]) == before


def test_a_changed_quote_tool_is_reported_at_the_quote_step(any_db, model, monkeypatch):
    (source,) = make_runs(1, model)
    assert source.output["status"] == "booked"
    original = logistics_tools.quotes_for

    def dearer(request):  # type: ignore[no-untyped-def]
        return [q | {"price_usd": q["price_usd"] + 100} for q in original(request)]

    monkeypatch.setattr(logistics_tools, "quotes_for", dearer)
    replay = execute_run(create_replay(source.id).id)

    divergence = replay.replay["divergence"]
    quote_step = next(s for s in load_trace(source.id) if s.node == "quote")
    assert (divergence["step"], divergence["node"], divergence["what"]) == (
        quote_step.seq,
        "quote",
        "output",
    )
    assert replay.status == RunStatus.failed
    assert [s.node for s in load_trace(replay.id)][-1] == "quote"


def test_what_if_with_another_adapter_changes_choose_and_books_nothing(
    any_db, model_server, model, tiny_lora_adapter_dir
):
    model_server.load_adapter(ADAPTER, tiny_lora_adapter_dir, replace=True)
    sources = [r for r in make_runs(8, model) if (r.output or {}).get("status") == "booked"]
    assert sources
    bookings, effects = count(Booking), count(Effect)

    changed = 0
    for source in sources:
        replay = create_replay(source.id, mode="what_if", adapter=ADAPTER)
        done = execute_run(replay.id, model=model)
        if done.status == RunStatus.waiting_approval:
            # Another quote than the recorded one: a question never asked waits for a person.
            assert done.pending_approval["node"] == "approve"
            done = decide(done.id, approved=True, by="ops@example.com", model=model)
        assert done.status == RunStatus.succeeded, done.error
        choose = next(s for s in load_trace(done.id) if s.node == "choose")
        assert choose.adapter == ADAPTER  # answered live, by the adapter
        recorded = next(s for s in load_trace(source.id) if s.node == "choose")
        if choose.output != recorded.output:
            changed += 1
            assert done.replay["result"] == "diverged"
            assert done.replay["divergence"]["node"] == "choose"
        # Tools before the divergence were answered from the recording.
        assert [s.node for s in load_trace(done.id)][:3] == ["intake", "validate", "check_valid"]
    assert changed >= 1, "the adapter chose as the base model did on every run"
    assert (count(Booking), count(Effect)) == (bookings, effects)


def test_fork_at_choose_with_another_quote_books_in_the_sandbox_only(any_db, model):
    (source,) = make_runs(1, model)
    steps = load_trace(source.id)
    before = digest([source.id])
    screen = next(s for s in steps if s.node == "screen").output
    chosen = next(s for s in steps if s.node == "choose").output["quote_id"]
    other = next(q for q in screen["eligible_quote_ids"] if q != chosen)
    bookings, effects = count(Booking), count(Effect)

    fork = create_fork(
        source.id,
        at_step={"node": "choose", "visit": 0},
        patch=[{"op": "replace", "path": "/choice/quote_id", "value": other}],
    )
    done = execute_run(fork.id, model=model)

    assert done.status == RunStatus.succeeded, done.error
    assert done.output["quote_id"] == other != source.output["quote_id"]
    book = next(s for s in load_trace(fork.id) if s.node == "book")
    assert book.output["quote_id"] == other  # the sandbox booking, in the fork's trace
    assert book.output["booking_reference"] != source.output["booking_reference"]
    assert (count(Booking), count(Effect)) == (bookings, effects)
    assert digest([source.id]) == before
