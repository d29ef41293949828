"""N in-process tool-only runs, for a profiler to watch (the hot path of issue 12).

    py-spy record -f raw -o profile.txt -- python bench/profile_runs.py --runs 200

Uses a fresh SQLite database in a temporary directory and the tool-only
workflow of ``bench/throughput.py``; prints runs/s (no assertion on time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    from bench.throughput import configure

    with tempfile.TemporaryDirectory(prefix="forgeyard-profile-") as tmp:
        configure(None, Path(tmp))
        from agents.runner import execute_run, start_run
        from forgeyard.db import upgrade
        from workflows.catalog import resolve

        upgrade()
        started = time.perf_counter()
        for i in range(args.runs):
            run = execute_run(start_run(resolve("bench"), {"a": i}).id)
            assert run.output == {"end": "done", "total": i + 3}, run.error
        print(f"{args.runs / (time.perf_counter() - started):.1f} runs/s")


if __name__ == "__main__":
    main()
