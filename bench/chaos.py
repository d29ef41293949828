"""Chaos: a whole site under killed, frozen and cut-off parts, at scale; it prints what survived.

    python bench/chaos.py [--runs 200] [--kills 200] [--burst 50] [--outage 30]
                          [--freezes 2] [--workers 3] [--concurrency 2] [--pool prefork|threads]
                          [--seed 0]
                          [--whole-worker-share 0.2] [--workdir DIR]

Starts a site of its own — a private PostgreSQL cluster on a port of its own,
a private Redis, the API (uvicorn), Celery workers (prefork) and beat, a
stand-in model server (benign: the cheapest on-time quote, a plain
confirmation, each answer delayed by ``--model-delay``) — and runs the plan of
``tests/support/chaos.py``: frozen-worker rounds (``SIGSTOP`` of the lease
holder inside a model call, past its lease), then ``--runs`` booking runs over
HTTP while busy workers are ``SIGKILL``\\ ed at random points (``--kills`` in
all; when the batch finishes first, runs are topped up so the killer has busy
workers), Redis is restarted, PostgreSQL is stopped for ``--outage`` seconds
and the API is killed -9 during a burst of ``--burst`` POSTs.

It prints runs submitted / succeeded / failed / stuck / lost, kills, bookings
per run, duplicate ``ok`` steps, ledger duplicates, 5xx and resets, and the
list of broken guarantees (empty when the site held); exit status 1 when any.
The small version of the same runs in the test suite (``tests/chaos/``).
There is no anchor and no timing figure: the result is a count of failures,
which must be zero whatever the machine's speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    from forgeyard.settings import apply_offline_environment

    apply_offline_environment()
    from tests.support.chaos import ChaosPlan, run_chaos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="Main batch of booking runs.")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs of busy workers.")
    parser.add_argument("--burst", type=int, default=50, help="POSTs during the API kill.")
    parser.add_argument("--outage", type=float, default=30.0, help="PostgreSQL outage, seconds.")
    parser.add_argument("--freezes", type=int, default=2, help="Frozen-worker rounds.")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=2, help="Runs per worker (processes or threads)."
    )
    parser.add_argument(
        "--pool",
        choices=["prefork", "threads"],
        default="prefork",
        help="Celery pool of the workers (threads: every kill takes a whole worker).",
    )
    parser.add_argument(
        "--whole-worker-share", type=float, default=0.2, help="Kills that take a whole worker."
    )
    parser.add_argument("--model-delay", type=float, default=0.3)
    parser.add_argument("--submit-gap", type=float, default=0.5)
    parser.add_argument("--settle", type=float, default=900.0, help="Bound for runs to finish.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="Keep logs here (default: a temp dir).")
    args = parser.parse_args()
    plan = ChaosPlan(
        runs=args.runs,
        burst=args.burst,
        kills=args.kills,
        freezes=args.freezes,
        outage_seconds=args.outage,
        workers=args.workers,
        concurrency=args.concurrency,
        pool=args.pool,
        whole_worker_share=args.whole_worker_share,
        model_delay=args.model_delay,
        submit_gap=args.submit_gap,
        settle_seconds=args.settle,
        seed=args.seed,
    )
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="forgeyard-chaos-") as tmp:
        workdir = args.workdir or Path(tmp)
        report, _ = run_chaos(plan, workdir, log)
    print()
    print(
        f"chaos: {args.runs} runs, {args.kills} kills, {args.freezes} frozen workers, "
        f"{args.outage:g} s PostgreSQL outage, API kill -9 during {args.burst} POSTs, seed "
        f"{args.seed}"
    )
    for line in report.lines():
        print(f"  {line}")
    problems = report.problems()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
