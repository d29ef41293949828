"""Tasks for the ``choose`` decision that no shortcut solves.

:func:`generate_tasks` draws what a shipper would send; most of its choosable
tasks list one carrier's three weekly sailings and the cheapest quote almost
always meets the deadline, so "always the first" or "always the cheapest"
scores nearly as well as reading the rule.  :func:`choose_tasks` keeps only
tasks with quotes from at least two carriers (4–6 eligible quotes) and sets
each task's deadline so that the four cases of the rule come up equally often:

* ``none``: no deadline — the cheapest quote;
* ``loose``: every quote arrives in time — the cheapest quote;
* ``binding``: the cheapest quote misses it, a dearer one makes it — the
  cheapest quote that arrives in time;
* ``unmeetable``: none arrives in time — the quote that arrives first.

The ground truth is computed with the desk's own tools, as for generated tasks.
How the quotes are shown (opaque ids, shuffled order) is the environment's
business: :class:`training.envs.ChooseEnv` with ``opaque_quotes=True``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from workflows.examples.logistics_booking.tasks import BookingTask, Expected, generate_tasks
from workflows.examples.logistics_booking.tools import quote, screen, validate_request

__all__ = ["DEADLINE_MODES", "choose_tasks", "task_prices"]

DEADLINE_MODES = ("none", "loose", "binding", "unmeetable")
MIN_QUOTES, MAX_QUOTES = 4, 6
# Requests are generated _CHUNK at a time, seed ``seed * _MAX_CHUNKS + chunk``.
_CHUNK, _MAX_CHUNKS = 250, 1000


def _eligible(request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    checked = validate_request(request)
    if not checked["valid"]:
        return None
    normalized = checked["request"]
    quotes = quote(normalized)["quotes"]
    return normalized, screen(normalized, quotes) | {"quotes": quotes}


def _expected(request: dict[str, Any]) -> Expected | None:
    found = _eligible(request)
    if found is None:
        return None
    normalized, screened = found
    eligible = screened["eligible_quotes"]
    if not screened["cleared"] or not eligible:
        return None
    best = next((q for q in eligible if q["meets_deadline"]), None)  # cheapest first
    first = min(eligible, key=lambda q: (q["eta"], q["price_usd"], q["quote_id"]))
    choice = best or first
    return Expected(
        valid=True,
        problem_fields=(),
        request=normalized,
        quote_ids=tuple(q["quote_id"] for q in screened["quotes"]),
        eligible_quote_ids=tuple(screened["eligible_quote_ids"]),
        best_quote_id=best["quote_id"] if best else None,
        best_price_usd=best["price_usd"] if best else None,
        choice_quote_id=choice["quote_id"],
        choice_price_usd=choice["price_usd"],
        cleared=True,
        hazardous=normalized["hazardous"],
    )


def _deadline(mode: str, eligible: list[dict[str, Any]], ready: date, rng: random.Random) -> Any:
    """A deadline that puts the task in ``mode``, or ``False`` when the quotes cannot."""
    etas = sorted(date.fromisoformat(q["eta"]) for q in eligible)
    cheapest = min(eligible, key=lambda q: (q["price_usd"], q["eta"], q["quote_id"]))
    cheapest_eta = date.fromisoformat(cheapest["eta"])
    if mode == "none":
        return None
    if mode == "loose":
        return etas[-1] + timedelta(days=rng.randint(0, 10))
    if mode == "binding":
        earlier = sorted({e for e in etas if e < cheapest_eta})
        if not earlier:
            return False
        pick = rng.choice(earlier)
        return pick + timedelta(days=rng.randrange((cheapest_eta - pick).days))
    # unmeetable: after the ready date (validation requires it), before every arrival
    if (etas[0] - ready).days < 2:
        return False
    return ready + timedelta(days=rng.randint(1, (etas[0] - ready).days - 1))


def task_prices(task: BookingTask) -> set[int]:
    """The prices of ``task``'s eligible quotes (what held-out tasks must not share)."""
    found = _eligible(task.input["request"])
    assert found is not None
    return {int(q["price_usd"]) for q in found[1]["eligible_quotes"]}


def _requests(seed: int) -> Iterator[BookingTask]:
    """Generated structured requests, in chunks, so that a longer list extends a shorter one."""
    for chunk in range(_MAX_CHUNKS):
        yield from generate_tasks(_CHUNK, seed=seed * _MAX_CHUNKS + chunk, free_text_share=0.0)


def choose_tasks(n: int, *, seed: int, exclude_prices: Iterable[int] = ()) -> list[BookingTask]:
    """``n`` choosable tasks, the same for the same arguments (and ``n`` tasks begin ``n + 1``).

    Args:
        n: Tasks wanted.
        seed: Seed of the request generator and of the deadlines.
        exclude_prices: Drop tasks whose right answer costs one of these prices
            (held-out tasks: every price a training prompt shows).
    """
    excluded = set(exclude_prices)
    rng = random.Random(f"choose-tasks:{seed}")
    out: list[BookingTask] = []
    for task in _requests(seed):
        if len(out) == n:
            break
        e = task.expected
        if not e.valid or e.cleared is not True or not e.eligible_quote_ids:
            continue
        found = _eligible(task.input["request"])
        assert found is not None
        normalized, screened = found
        eligible = screened["eligible_quotes"]
        carriers = {q["carrier"] for q in eligible}
        if not MIN_QUOTES <= len(eligible) <= MAX_QUOTES or len(carriers) < 2:
            continue
        mode = DEADLINE_MODES[len(out) % len(DEADLINE_MODES)]
        ready = date.fromisoformat(normalized["ready_date"])
        deadline = _deadline(mode, eligible, ready, rng)
        if deadline is False:
            continue
        request = dict(task.input["request"])
        request["deadline_date"] = deadline.isoformat() if deadline else None
        expected = _expected(request)
        if expected is None or int(expected.choice_price_usd or 0) in excluded:
            continue
        out.append(
            BookingTask(
                f"ch-{seed}-{len(out):04d}-{mode}", "standard", {"request": request}, expected
            )
        )
    return out
