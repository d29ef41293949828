"""Rule-grader throughput: reward-model evaluations per second on one core.

Scores 10,000 examples (the shipped logistics labelled set, cycled) with the
logistics reward model's rule graders, and, as the anchor measured in the same
run, the same checks written as a plain-Python loop.  Prints both figures and
their ratio; asserts only that both compute the same rewards, never a time.

    PYTHONPATH=. python bench/rewards.py [--n 10000]
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name
# would shadow the `rewards` package: search the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from forgeyard.settings import apply_offline_environment  # noqa: E402

apply_offline_environment()

from rewards import Example, RewardModel, load_reward_spec_text  # noqa: E402
from rewards.dataset import read_dataset  # noqa: E402
from rewards.examples.logistics_booking.build_dataset import DATASET  # noqa: E402

# The shipped spec with its one python grader swapped for the equivalent regex
# rule: this benchmark measures rule graders (a python grader adds a thread per call).
_SPEC_PATH = Path(DATASET).with_name("reward.yaml")
_FLATTERY = "absolutely right|excellent (request|question)|great question|happy to help!"


def bench_spec() -> str:
    text = _SPEC_PATH.read_text()
    start = text.index("  - name: no_flattery")
    end = text.index("combine:")
    rule = (
        "  - name: no_flattery\n    kind: string_check\n    path: output.confirmation\n"
        f'    op: regex\n    value: "{_FLATTERY}"\n    case_sensitive: false\n'
        "    negate: true\n    when: output.status == 'booked'\n    weight: 0.5\n\n"
    )
    return text[:start] + rule + text[end:]


_FLATTERY_RE = re.compile(_FLATTERY, re.IGNORECASE)
_FIELDS = ("origin", "destination", "container_type", "containers")


def plain_reward(ex: Example) -> float | None:
    """The same checks as the spec, hand-written: the anchor."""
    out, exp = ex.output or {}, ex.expected or {}
    req = (ex.state.get("validation") or {}).get("request") or {}
    exp_req = exp.get("request")
    booked = out.get("status") == "booked"
    scores: list[tuple[float, float]] = []
    if exp_req is not None:
        for f in _FIELDS:
            if f == "container_type":
                same = str(req.get(f) or "").casefold() == str(exp_req[f]).casefold()
                ok = req.get(f) is not None and same
            else:
                ok = req.get(f) == exp_req[f]
            scores.append((float(ok), 0.5))
    if out.get("status") != "rejected":
        if not exp["valid"]:
            want = "needs_information"
        elif exp["cleared"] is False:
            want = "refused"
        elif not exp["eligible_quote_ids"]:
            want = "no_options"
        else:
            want = "booked"
        scores.append((float(out.get("status") == want), 4))
    if booked:
        conf = out.get("confirmation") or ""
        if exp.get("choice_quote_id") is not None:
            scores.append((float(out.get("quote_id") == exp["choice_quote_id"]), 3))
        if exp.get("choice_price_usd") is not None:
            price = out.get("price_usd")
            ok = isinstance(price, int | float) and abs(price - exp["choice_price_usd"]) <= 1
            scores.append((float(ok), 1))
        if out.get("booking_reference") is not None:
            scores.append((float(out["booking_reference"] in conf), 1))
        details = out.get("carrier") in conf and str(out.get("price_usd")) in conf
        scores.append((float(details), 0.5))
        scores.append((min(1, 350 / max(1, len(conf))), 0.5))
        if out.get("confirmation") is not None:
            scores.append((float(not _FLATTERY_RE.search(conf)), 0.5))
    if not scores:
        return None
    total = sum(s * w for s, w in scores) / sum(w for _, w in scores)
    if booked and exp.get("cleared") is False:
        total = min(total, 0.0)
    if booked and exp.get("valid") is False:
        total = min(total, 0.0)
    if booked and exp.get("valid") and not exp.get("eligible_quote_ids"):
        total = min(total, 0.0)
    choice = exp.get("choice_quote_id")
    if booked and choice is not None and out.get("quote_id") != choice:
        total = min(total, 0.45)
    if (
        booked
        and exp_req is not None
        and any(req.get(f) != exp_req[f] for f in ("containers", "origin", "destination"))
    ):
        total = min(total, 0.3)
    return total


def examples(n: int) -> list[Example]:
    base = read_dataset(DATASET).examples
    out = []
    for i in range(n):
        ex = copy.deepcopy(base[i % len(base)])
        ex.id = f"{ex.id}#{i}"
        out.append(ex)
    return out


def _timed(fn: Any, items: list[Example]) -> tuple[float, list[float | None]]:
    start = time.perf_counter()
    results = [fn(ex) for ex in items]
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    spec = bench_spec()
    model = RewardModel(load_reward_spec_text(spec, filename=str(_SPEC_PATH)))
    items = examples(args.n)
    model.reward(items[0])
    plain_reward(items[0])  # warm caches (parsed paths, expressions, regexes)
    rm_secs, rm_rewards = _timed(model.reward, items)
    anchor_secs, anchor_rewards = _timed(plain_reward, items)
    mismatched = [
        ex.id
        for ex, a, b in zip(items, rm_rewards, anchor_rewards, strict=True)
        if (a is None) != (b is None) or (a is not None and b is not None and abs(a - b) > 1e-9)
    ]
    assert not mismatched, f"reward model and anchor disagree on {mismatched[:5]}"
    print("spec used:")
    print("    " + spec.replace("\n", "\n    ").rstrip())
    print(f"examples: {args.n} (the logistics labelled set, cycled), one core")
    rm_rate, anchor_rate = args.n / rm_secs, args.n / anchor_secs
    print(f"reward model (rule graders): {rm_rate:,.0f} evaluations/s ({rm_secs:.2f} s)")
    print(
        f"anchor (plain-Python loop, same checks): {anchor_rate:,.0f} evaluations/s "
        f"({anchor_secs:.2f} s)"
    )
    print(f"ratio reward model / anchor: {rm_rate / anchor_rate:.3f}")


if __name__ == "__main__":
    main()
