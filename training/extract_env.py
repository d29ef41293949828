"""The ``extract`` node of ``logistics_booking``: a shipper's e-mail read into a request.

:class:`ExtractEnv` draws a free-text task, observes the ``extract`` prompt,
takes the completion as the extracted request and runs the rest of the
booking in the sandbox.  The one later decision, ``choose``, is answered by
the workflow's own rule (:func:`best_quote`), never by a model, so two
extractions of one task differ in reward only through what they extracted.
"""

from __future__ import annotations

from typing import Any

from training.envs import NodeEnv
from training.tasks import Task

__all__ = ["ExtractEnv", "best_quote", "reference_extraction"]

# The extraction schema's fields, in its order (workflow.yaml, node `extract`).
EXTRACTED_FIELDS = (
    "origin", "destination", "container_type", "containers", "cargo_weight_kg", "commodity",
    "hazardous", "imo_class", "un_number", "ready_date", "deadline_date", "shipper", "consignee",
)  # fmt: skip


def best_quote(state: dict[str, Any]) -> dict[str, str]:
    """``choose``'s answer by the rule its prompt states, from the screened quotes.

    The first eligible quote meeting the deadline (``logistics.quote`` lists
    them cheapest first), else the one arriving first — exactly how the task
    generator computes ``expected.choice_quote_id``, so a right extraction
    books the expected quote.
    """
    eligible = state["screening"]["eligible_quotes"]
    best = next((q for q in eligible if q["meets_deadline"]), None)
    first = min(eligible, key=lambda q: (q["eta"], q["price_usd"], q["quote_id"]))
    return {"quote_id": (best or first)["quote_id"]}


def reference_extraction(task: Task) -> dict[str, Any] | None:
    """The extraction a perfect reader returns for ``task``, from its ground truth.

    ``None`` when the task has no validated request to read back: an invalid
    request (the right answer leaves the defect in, which the ground truth does
    not record) or a recorded run without ground truth.
    """
    if task.expected is None or task.expected.request is None:
        return None
    request = task.expected.request
    out = {name: request.get(name) for name in EXTRACTED_FIELDS}
    # Validation normalises weights to floats; the schema asks for whole kilograms.
    if out["cargo_weight_kg"] is not None:
        out["cargo_weight_kg"] = round(out["cargo_weight_kg"])
    out["hazardous"] = bool(out["hazardous"])
    return out


class ExtractEnv(NodeEnv):
    """The ``extract`` decision of ``logistics_booking``, one episode per free-text task.

    Observation: the node's chat messages as text (system, then the shipper's
    e-mail). Action: the completion, parsed as the extraction schema's JSON
    object (all 13 fields, ``null`` where the e-mail says nothing). Reward: the
    reward model on the finished sandboxed run — the request as validated, the
    outcome (booked / needs information / refused) and the quote booked
    against the task's ground truth. ``reset`` info adds ``ground_truth``
    (whether the task has any; see ``docs/training.md`` for what is scored
    without it).

    Tasks: every free-text task (all reach ``extract``), invalid and denied
    ones included — reading those right ends in questions or a refusal.
    """

    node = "extract"
    answered = ("choose",)
    accepted_tasks = "free-text"

    def accepts(self, task: Task) -> bool:
        return task.free_text

    def answer(self, node: str, state: dict[str, Any]) -> Any:
        if node != "choose":
            return super().answer(node, state)
        return best_quote(state)

    def reset_info(self, state: dict[str, Any]) -> dict[str, Any]:
        assert self._task is not None
        return {"ground_truth": self._task.expected is not None}
