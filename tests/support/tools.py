"""Tools for the test specs: small, observable, some of them failing on purpose."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from workflows.tools import ToolContext, ToolError, tool

# How often each tool body actually ran in this process (the ledger's job is
# to keep side-effecting ones at one per idempotency key).
calls: Counter[str] = Counter()
_flaky_failures: dict[str, int] = {}


@tool("test.add")
def add(a: float, b: float = 0) -> dict[str, Any]:
    """Add two numbers."""
    calls["test.add"] += 1
    return {"sum": a + b}


@tool("test.refuse")
def refuse(reason: str) -> None:
    """Always refuse, with ``reason``."""
    raise ToolError(reason)


@tool("test.flaky")
def flaky(key: str, failures: int) -> dict[str, Any]:
    """Fail ``failures`` times for ``key``, then succeed."""
    calls["test.flaky"] += 1
    seen = _flaky_failures.get(key, 0)
    if seen < failures:
        _flaky_failures[key] = seen + 1
        raise RuntimeError(f"transient failure {seen + 1}")
    return {"ok": True, "after_failures": seen}


@tool("test.sleep")
def sleep(seconds: float) -> dict[str, Any]:
    """Sleep, to trip a node's timeout."""
    time.sleep(seconds)
    return {"slept": seconds}


@tool("test.opaque")
def opaque() -> object:
    """Return something that is not JSON."""
    return object()


@tool("test.charge", side_effect=True)
def charge(amount: float, *, ctx: ToolContext) -> dict[str, Any]:
    """A side effect we can count: one 'charge' per call that really runs."""
    calls["test.charge"] += 1
    return {"charged": amount, "key": ctx.idempotency_key}


# Leases another worker took over while this one was inside a node, by run id.
stolen: dict[str, Any] = {}


def _take_over(run_id: str) -> None:
    # What the sweeper and a second worker do while the first is frozen:
    # the lease expires and is taken at a new epoch.
    from datetime import timedelta

    from sqlalchemy import update

    from forgeyard import leases
    from forgeyard.db import session_scope
    from forgeyard.models import Run, utcnow

    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(Run)
            .where(Run.id == run_id)  # type: ignore[arg-type]
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    stolen[run_id] = leases.acquire(Run, run_id, "second-worker")


@tool("test.lose_lease")
def lose_lease(*, ctx: ToolContext) -> dict[str, Any]:
    """Lose the run's lease to another worker during the call (once per run)."""
    if ctx.run_id not in stolen:
        _take_over(ctx.run_id)
    return {"lost": True}


@tool("test.charge_and_lose", side_effect=True)
def charge_and_lose(amount: float, *, ctx: ToolContext) -> dict[str, Any]:
    """A side effect during which the run's lease is lost (once per run)."""
    calls["test.charge_and_lose"] += 1
    if ctx.run_id not in stolen:
        _take_over(ctx.run_id)
    return {"charged": amount}
