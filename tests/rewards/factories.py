"""Small factories for reward specs and examples."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from rewards import Example, LoadedRewardSpec, RewardModel, load_reward_spec_text


def spec_dict(*graders: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A reward spec with the given graders (a quote-choice check when none)."""
    doc: dict[str, Any] = {
        "name": "test_rm",
        "workflow": "logistics_booking",
        "graders": list(graders)
        or [
            {
                "name": "quote",
                "kind": "field_match",
                "path": "output.quote_id",
                "expected": "expected.choice_quote_id",
            }
        ],
    }
    doc.update(top)
    return doc


def spec_yaml(*graders: dict[str, Any], **top: Any) -> str:
    buf = io.StringIO()
    YAML().dump(spec_dict(*graders, **top), buf)
    return buf.getvalue()


def loaded(*graders: dict[str, Any], **top: Any) -> LoadedRewardSpec:
    return load_reward_spec_text(spec_yaml(*graders, **top), filename="rm.yaml")


def model(*graders: dict[str, Any], **top: Any) -> RewardModel:
    return RewardModel(loaded(*graders, **top))


def example(output: Any = None, expected: dict[str, Any] | None = None, **kw: Any) -> Example:
    """A booked run's example; override any field."""
    if output is None:
        output = {
            "status": "booked",
            "quote_id": "Q1",
            "booking_reference": "BK-1",
            "price_usd": 1200,
            "confirmation": "Booking BK-1 is confirmed.",
        }
    if expected is None:
        expected = {"choice_quote_id": "Q1", "cleared": True, "price": 1200}
    return Example(id=kw.pop("id", "ex-1"), output=output, expected=expected, **kw)


def grade(grader: dict[str, Any], ex: Example | None = None) -> Any:
    """One grader's result on ``ex``."""
    rm = model(grader)
    ex = ex or example()
    return rm.graders[0](ex.mapping(), ex)
