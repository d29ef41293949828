"""A run's steps laid out as a timeline: each step's offset and width as shares of the run."""

from __future__ import annotations

from dataclasses import dataclass

from api.schemas import StepOut

# A step too short to see still gets a sliver, so every step has a bar to point at.
_MIN_WIDTH_PERCENT = 0.6


@dataclass(frozen=True)
class TimelineStep:
    step: StepOut
    duration_seconds: float | None
    offset_percent: float
    width_percent: float


def timeline(steps: list[StepOut]) -> list[TimelineStep]:
    """The steps with their bars; the run spans from its first start to its last finish."""
    if not steps:
        return []
    start = min(s.started_at for s in steps)
    end = max((s.finished_at or s.started_at) for s in steps)
    span = max((end - start).total_seconds(), 1e-6)
    out = []
    for s in steps:
        duration = (s.finished_at - s.started_at).total_seconds() if s.finished_at else None
        offset = min((s.started_at - start).total_seconds() / span * 100, 100 - _MIN_WIDTH_PERCENT)
        width = min(max((duration or 0) / span * 100, _MIN_WIDTH_PERCENT), 100 - offset)
        out.append(TimelineStep(s, duration, round(offset, 2), round(width, 2)))
    return out
