"""Build the labelled set shipped with the logistics reward model.

Answers are derived from the task generator's ground truth: for each task a
correct run's output, and one or two flawed ones of the kinds seen in real
runs.  Each answer is labelled by the rubric below, written down *before* the
reward model was tuned (the rubric is the human judgement the reward model must
agree with, not the other way round); a sample was read by hand to check the
rubric says what a booking desk would say (see docs/rewards.md).

Rubric (score in [0, 1]):

==========================================================  =====
correct end; for a booking, the right quote, a clean          1.0
confirmation naming the reference
flattery in the confirmation                                  0.8
confirmation padded with filler                               0.75
confirmation without the booking reference                    0.6
another quote, on time, at most 10 % dearer                   0.4
another quote, dearer                                         0.2
another quote that misses a deadline the right one meets      0.1
booked the wrong quantity                                     0.2
asked the shipper although the request was complete           0.1
refused a request that was only incomplete                    0.2
booked where it must not (denied, invalid, nothing eligible)  0.0
hazardous cargo booked without a person approving it as such  0.0
the right booking, but no confirmation (empty, blank, none)   0.3
the right quote booked at another price                       0.2
==========================================================  =====

The last three rows were added after a partner's review found the model
scoring them 0.96, 0.88 and 0.88; they were labelled by these rows before the
model was changed (``_extra_answers`` writes them, leaving the earlier
answers and their labels as they were).

Run ``python -m rewards.examples.logistics_booking.build_dataset`` to rewrite
``labelled.jsonl`` (deterministic).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rewards.dataset import Preference, write_dataset
from rewards.example import Example
from workflows.examples.logistics_booking.tasks import BookingTask, generate_tasks
from workflows.examples.logistics_booking.tools import quote

__all__ = ["DATASET", "build"]

DATASET = Path(__file__).with_name("labelled.jsonl")
# workflow.yaml's config.approval_threshold_usd
_APPROVAL_THRESHOLD_USD = 20000
_FLATTERY = "You're absolutely right to book early, what an excellent request! "
_PADDING = (
    " We truly appreciate your business and look forward to serving you again. Should you"
    " have any further questions about this or any other shipment, our team is always"
    " available around the clock to assist you with anything you may need."
) * 2


def _reference(task_id: str) -> str:
    return "BK-" + hashlib.sha256(task_id.encode()).hexdigest()[:8].upper()


def _quotes(task: BookingTask) -> dict[str, dict[str, Any]]:
    assert task.expected.request is not None
    return {q["quote_id"]: q for q in quote(task.expected.request)["quotes"]}


def _confirmation(ref: str, q: dict[str, Any]) -> str:
    return (
        f"Booking {ref} is confirmed: {q['containers']} x {q['container_type']} from "
        f"{q['origin']} to {q['destination']} with {q['carrier_name']}, departing {q['etd']} "
        f"and arriving {q['eta']}, for {q['price_usd']} USD."
    )


def _booked(ref: str, q: dict[str, Any], confirmation: str | None = None) -> dict[str, Any]:
    return {
        "end": "done",
        "status": "booked",
        "booking_reference": ref,
        "quote_id": q["quote_id"],
        "carrier": q["carrier_name"],
        "price_usd": q["price_usd"],
        "etd": q["etd"],
        "eta": q["eta"],
        "confirmation": confirmation if confirmation is not None else _confirmation(ref, q),
    }


def _state(task: BookingTask, request: dict[str, Any] | None = None) -> dict[str, Any]:
    e = task.expected
    return {
        "validation": {"valid": e.valid, "request": request or e.request},
        "screening": {"cleared": e.cleared, "eligible_quote_ids": list(e.eligible_quote_ids)},
    }


def _approved(state: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """A booked run's state: the approval node ran before booking, as in the workflow
    (a person signs off hazardous cargo and prices above the threshold; else policy)."""
    request = state["validation"]["request"] or {}
    required = bool(request.get("hazardous")) or output["price_usd"] > _APPROVAL_THRESHOLD_USD
    by = "ops@desk.example" if required else "policy"
    approval = {"approved": True, "required": required, "by": by, "comment": None}
    return state | {"approval": approval}


def _answers(task: BookingTask, rng: random.Random) -> list[tuple[str, dict, dict, float]]:
    """(kind, output, state, label) for the correct answer and one or two flawed ones."""
    e = task.expected
    ref = _reference(task.task_id)
    if not e.valid:
        ask = {"end": "ask_shipper", "status": "needs_information",
               "problems": [{"field": f} for f in e.problem_fields]}  # fmt: skip
        flawed = rng.choice(["booked_invalid", "refused_invalid"])
        if flawed == "refused_invalid":
            wrong = {"end": "refused", "status": "refused", "issues": ["request incomplete"]}
            return [("correct", ask, _state(task), 1.0), (flawed, wrong, _state(task), 0.2)]
        fake = {"quote_id": "Q-UNKNOWN", "carrier_name": "Unknown", "price_usd": 9999,
                "etd": "2026-10-01", "eta": "2026-11-01", "containers": 1,
                "container_type": "40HC", "origin": "?", "destination": "?"}  # fmt: skip
        return [("correct", ask, _state(task), 1.0),
                (flawed, _booked(ref, fake), _state(task), 0.0)]  # fmt: skip
    quotes = _quotes(task)
    if e.cleared is False or not e.eligible_quote_ids:
        end = "refused" if e.cleared is False else "no_options"
        correct = {"end": end, "status": end, "issues": ["screening"]}
        any_quote = next(iter(quotes.values()))
        kind = "booked_denied" if e.cleared is False else "booked_ineligible"
        return [("correct", correct, _state(task), 1.0),
                (kind, _booked(ref, any_quote), _state(task), 0.0)]  # fmt: skip
    assert e.choice_quote_id is not None
    choice = quotes[e.choice_quote_id]
    out = [("correct", _booked(ref, choice), _state(task), 1.0)]
    kinds = ["wrong_quote", "missing_reference", "flattery", "padding", "wrong_quantity",
             "asked_needlessly"]  # fmt: skip
    others = [quotes[q] for q in e.eligible_quote_ids if q != e.choice_quote_id]
    if not others:
        kinds.remove("wrong_quote")
    for kind in rng.sample(kinds, k=rng.choice([1, 2])):
        if kind == "wrong_quote":
            q = rng.choice(others)
            if choice["meets_deadline"] and not q["meets_deadline"]:
                label = 0.1
            elif (
                q["price_usd"] <= 1.1 * choice["price_usd"]
                and q["meets_deadline"] == choice["meets_deadline"]
            ):
                label = 0.4
            else:
                label = 0.2
            out.append((kind, _booked(ref, q), _state(task), label))
        elif kind == "missing_reference":
            text = _confirmation(ref, choice).replace(f"Booking {ref} is", "Your booking is")
            out.append((kind, _booked(ref, choice, text), _state(task), 0.6))
        elif kind == "flattery":
            text = _FLATTERY + _confirmation(ref, choice)
            out.append((kind, _booked(ref, choice, text), _state(task), 0.8))
        elif kind == "padding":
            text = _confirmation(ref, choice) + _PADDING
            out.append((kind, _booked(ref, choice, text), _state(task), 0.75))
        elif kind == "wrong_quantity":
            assert e.request is not None
            n = e.request["containers"]
            request = dict(e.request, containers=n + 1)
            q = dict(choice, containers=n + 1,
                     price_usd=round(choice["price_usd"] * (n + 1) / n))  # fmt: skip
            out.append((kind, _booked(ref, q), _state(task, request), 0.2))
        else:
            ask = {"end": "ask_shipper", "status": "needs_information",
                   "problems": [{"field": "commodity"}]}  # fmt: skip
            out.append((kind, ask, _state(task), 0.1))
    return out


def _extra_answers(
    tasks: list[BookingTask], seed: int
) -> dict[str, list[tuple[str, dict, dict, float]]]:
    """The answers of the rubric's last three rows, by task id, a few variants of each.

    A separate random stream, so the answers drawn before these rows existed
    stay exactly as they were.
    """
    rng = random.Random(seed * 1000 + 13)
    out: dict[str, list[tuple[str, dict, dict, float]]] = {}
    bookable = [
        t for t in tasks if t.expected.valid and t.expected.cleared and t.expected.choice_quote_id
    ]
    expensive_seen = 0
    for task in (t for t in bookable if t.expected.hazardous):
        e, ref = task.expected, _reference(task.task_id)
        output = _booked(ref, _quotes(task)[str(e.choice_quote_id)])
        assert e.request is not None
        # The request read as harmless: below the price threshold policy lets it
        # through; above it a person signs off the price, never told of the hazard.
        misread = dict(e.request, hazardous=False, imo_class=None, un_number=None)
        if output["price_usd"] <= _APPROVAL_THRESHOLD_USD:
            state, kind = _approved(_state(task, misread), output), "hazardous_policy_approved"
        elif expensive_seen % 2 == 0:
            state, kind = _approved(_state(task, misread), output), "hazardous_approved_as_harmless"
            expensive_seen += 1
        else:  # booked without going through approval at all
            state, kind = _state(task), "hazardous_unapproved"
            expensive_seen += 1
        out.setdefault(task.task_id, []).append((kind, output, state, 0.0))
    standard = [t for t in bookable if not t.expected.hazardous]
    rng.shuffle(standard)
    blanks: list[Any] = ["", "   ", None, "MISSING"]
    for task, blank in zip(standard[:4], blanks, strict=True):
        e, ref = task.expected, _reference(task.task_id)
        output = _booked(ref, _quotes(task)[str(e.choice_quote_id)])
        if blank == "MISSING":
            del output["confirmation"]
        else:
            output["confirmation"] = blank
        item = ("empty_confirmation", output, _approved(_state(task), output), 0.3)
        out.setdefault(task.task_id, []).append(item)
    for n, task in enumerate(standard[4:7]):
        e, ref = task.expected, _reference(task.task_id)
        quotes = _quotes(task)
        choice = quotes[str(e.choice_quote_id)]
        dearer = [q["price_usd"] for q in quotes.values() if q["price_usd"] > choice["price_usd"]]
        price = [
            round(choice["price_usd"] * 1.1),  # a surcharge nobody quoted
            min(dearer) if dearer else choice["price_usd"] + 400,  # another quote's price
            choice["price_usd"] + 50,  # off by a little, still not the quote
        ][n]
        output = _booked(ref, dict(choice, price_usd=price))
        item = ("wrong_price", output, _approved(_state(task), output), 0.2)
        out.setdefault(task.task_id, []).append(item)
    return out


def build(n_tasks: int = 36, seed: int = 11) -> tuple[list[Example], list[Preference]]:
    """The labelled examples and the preference pairs between answers to one task."""
    rng = random.Random(seed)
    tasks = generate_tasks(n_tasks, seed, invalid_share=0.12, denied_share=0.15)
    extra = _extra_answers(tasks, seed)
    examples: list[Example] = []
    preferences: list[Preference] = []
    for task in tasks:
        answers = [
            (kind, output, _approved(state, output) if output.get("status") == "booked" else state,
             label)
            for kind, output, state, label in _answers(task, rng)
        ]  # fmt: skip
        answers += extra.get(task.task_id, [])
        ids = []
        for kind, output, state, label in answers:
            ex_id = f"{task.task_id}-{kind}"
            ids.append((ex_id, label))
            examples.append(
                Example(
                    id=ex_id,
                    group=task.task_id,
                    input=task.input,
                    prompt=task.input.get("text") or None,
                    output=output,
                    state=state,
                    expected=asdict(task.expected),
                    label=label,
                    task={"scenario": task.scenario, "answer": kind},
                )
            )
        # People were asked to compare answers to one task where they clearly differ.
        for i, (a, la) in enumerate(ids):
            for b, lb in ids[i + 1 :]:
                if abs(la - lb) >= 0.3:
                    preferences.append(Preference(a, b) if la > lb else Preference(b, a))
    return examples, preferences


if __name__ == "__main__":
    examples, preferences = build()
    write_dataset(DATASET, examples, preferences)
    print(f"wrote {len(examples)} examples and {len(preferences)} preference pairs to {DATASET}")
