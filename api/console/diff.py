"""The diff page: two runs side by side, aligned by node and visit, divergence highlighted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from agents.diff import RunDiff, StepDiff, diff_runs
from api.console.render import PREFIX, page
from api.console.session import UserDep
from forgeyard.models import Run

router = APIRouter()


@dataclass(frozen=True)
class ForkPoint:
    """One run forks the other: the fork's trace starts after ``seq`` of its source."""

    source_side: str  # "a" or "b"
    seq: int
    node: str
    patch: list[Any]


def _fork_point(diff: RunDiff) -> ForkPoint | None:
    pairs: tuple[tuple[str, Run, Run], ...] = (("a", diff.a, diff.b), ("b", diff.b, diff.a))
    for side, source, other in pairs:
        made = other.replay or {}
        if other.parent_run_id == source.id and made.get("mode") == "fork":
            at = made.get("at_step") or {}
            seq, node = int(at.get("seq", 0)), str(at.get("node"))
            return ForkPoint(side, seq, node, made.get("patch", []))
    return None


def _before_fork(step: StepDiff, fork: ForkPoint | None) -> bool:
    # A fork starts from its source's checkpoint: the source's steps up to the
    # fork point are the fork's history too, not a difference in behaviour.
    if fork is None:
        return False
    mine, theirs = (step.a, step.b) if fork.source_side == "a" else (step.b, step.a)
    return theirs is None and mine is not None and mine.seq <= fork.seq


@router.get("/runs/{run_id}/diff")
def pick_other(
    run_id: str, other: Annotated[str, Query(min_length=1, max_length=32)], _user: UserDep
) -> Response:
    """The run page's "diff with" form lands here: on to the diff's own address."""
    return RedirectResponse(f"{PREFIX}/diff/{run_id}/{other.strip()}", status.HTTP_303_SEE_OTHER)


@router.get("/diff/{a}/{b}")
def diff_page(a: str, b: str, request: Request, user: UserDep) -> Response:
    """Run ``a`` and run ``b`` (both this tenant's, else 404) compared step by step."""
    diff = diff_runs(a, b, tenant_id=user.need("runs:read").tenant_id)
    fork = _fork_point(diff)
    shared = {s.index for s in diff.steps if _before_fork(s, fork)}
    first = next((s for s in diff.steps if not s.same and s.index not in shared), None)
    return page(
        request,
        "diff.html.jinja",
        session=user,
        diff=diff,
        fork=fork,
        shared=shared,
        first=first,
        first_index=first.index if first else None,
    )
