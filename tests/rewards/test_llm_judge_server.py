"""The llm_judge grader against the real local model server (vLLM, tiny model)."""

from __future__ import annotations

import pytest

from tests.rewards.factories import example, model

pytestmark = pytest.mark.integration


def test_judge_scores_by_structured_output(model_server) -> None:  # type: ignore[no-untyped-def]
    rm = model(
        {
            "name": "judge",
            "kind": "llm_judge",
            "rubric": "Rate this booking confirmation for politeness: {{ output.confirmation }}",
            "samples": 2,
            "scale": 5,
            "max_tokens": 120,
            "base_url": model_server.base_url,
            "model": model_server.name,
        }
    )
    result = rm.score(example()).graders["judge"]
    # The tiny model's weights are random: only the plumbing is checked here.
    assert result.error is None, result.error
    assert result.score is not None and 0.0 <= result.score <= 1.0
    assert "sample(s)" in result.reason
