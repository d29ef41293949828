"""The domain corpus the base model (:mod:`serving.base`) is pretrained on, from a seed.

Documents come from the workflow's own generators and tools
(:func:`~workflows.examples.logistics_booking.tasks.generate_tasks`, the quote
and screening tools) and its own prompt templates, so the model reads text as
runs show it:

* shippers' e-mails (the free-text tasks);
* extraction pairs: the ``extract`` node's chat, answered with the request as JSON;
* quote tables: the ``choose`` node's chat with the quotes listed (ids made
  opaque and the order shuffled, as the training environment shows them) —
  **never answered**: which quote to choose is what GRPO has to learn;
* confirmations: the ``confirm`` node's chat for a booking, answered with a
  two-sentence confirmation restating it;
* the hand-written corpus in ``serving/corpus`` (glossary, freight documents).

Chats are written in the tokenizer's ChatML, exactly as its chat template
renders them.  ``forgeyard model build-base`` hands :func:`domain_documents`
to :func:`serving.base.build_base_model`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["confirmation_text", "domain_documents"]

# The ChatML markers of the base model's tokenizer (``serving._tokenizer``;
# the layers keep training from importing serving).
IM_START, IM_END = "<|im_start|>", "<|im_end|>"

_SPEC = (
    Path(__file__).resolve().parent.parent / "workflows/examples/logistics_booking/workflow.yaml"
)
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

_OPENINGS = (
    "Booking {ref} is confirmed",
    "Your booking {ref} is confirmed",
    "We have confirmed booking {ref}",
    "Booking {ref} has been confirmed",
)
_CLOSINGS = (
    "Thank you for shipping with us.",
    "Thank you for your booking.",
    "We will send the booking documents shortly.",
    "Please contact us if anything changes.",
)


def confirmation_text(booking: dict[str, Any], rng: random.Random) -> str:
    """A two-sentence confirmation restating ``booking`` (the ``logistics.book`` result)."""
    opening = rng.choice(_OPENINGS).format(ref=booking["booking_reference"])
    return (
        f"{opening}: {booking['containers']} x {booking['container_type']} from "
        f"{booking['origin']} to {booking['destination']} with {booking['carrier_name']}, "
        f"departing {booking['etd']} and arriving {booking['eta']}, for "
        f"{booking['price_usd']} USD. {rng.choice(_CLOSINGS)}"
    )


def _chat(messages: list[tuple[str, str]]) -> str:
    return "".join(f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in messages)


def _opaque_id(rng: random.Random) -> str:
    return "Q-" + "".join(rng.choice(_ID_ALPHABET) for _ in range(5))


def domain_documents(n_tasks: int, *, seed: int) -> Iterator[str]:
    """The generated documents of ``n_tasks`` tasks (``generate_tasks(n_tasks, seed)``)."""
    from workflows.examples.logistics_booking.tasks import generate_tasks
    from workflows.examples.logistics_booking.tools import (
        booking_reference,
        quote,
        screen,
        validate_request,
    )
    from workflows.expressions import render
    from workflows.loader import load_spec

    spec = load_spec(_SPEC).spec
    extract, choose, confirm = (spec.nodes[n] for n in ("extract", "choose", "confirm"))
    rng = random.Random(seed)
    for task in generate_tasks(n_tasks, seed=seed):
        e = task.expected
        if task.free_text:
            yield task.input["text"]
            if e.valid and e.request is not None:
                fields = extract.output.json_schema["properties"]  # type: ignore[union-attr,index]
                answer = json.dumps({k: e.request.get(k) for k in fields}, separators=(",", ":"))
                user = render(extract.prompt, {"input": task.input})
                yield _chat(
                    [("system", extract.system or ""), ("user", user), ("assistant", answer)]
                )
        if not e.valid or e.request is None or not e.cleared or not e.eligible_quote_ids:
            continue
        request = validate_request(e.request)["request"]
        screening = screen(request, quote(request)["quotes"])
        eligible = [dict(q) for q in screening["eligible_quotes"]]
        shown = [dict(q, quote_id=_opaque_id(rng)) for q in eligible]
        rng.shuffle(shown)
        state = {"validation": {"request": request}, "screening": {"eligible_quotes": shown}}
        user = render(choose.prompt, state)
        # The decision is left out: the chat stops before the assistant's turn.
        yield _chat([("system", choose.system or ""), ("user", user)])
        picked = rng.choice(eligible)
        booking = {
            "booking_reference": booking_reference(f"{task.task_id}:{picked['quote_id']}"),
            **{k: picked[k] for k in ("containers", "container_type", "origin", "destination")},
            **{k: picked[k] for k in ("carrier_name", "etd", "eta")},
            "price_usd": float(picked["price_usd"]),
        }
        user = render(confirm.prompt, {"booking": booking})
        yield _chat(
            [
                ("system", confirm.system or ""),
                ("user", user),
                ("assistant", confirmation_text(booking, rng)),
            ]
        )
