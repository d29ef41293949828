"""Summarise a py-spy raw (collapsed-stack) profile: where the samples of the main thread went.

    python bench/profile_summary.py profile.txt

Prints the share of samples spent under each named part of the hot path (a
sample counts once per part, at its outermost matching frame) and the
functions with the most inclusive samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

# (label, pattern on "function (file:line)" frames), checked in this order per frame.
PARTS = [
    ("spec parsing and validation (load_spec_text)", r"^load_spec_text \(workflows/loader"),
    ("catalog: reading every spec's name", r"^_?declared_name "),
    ("compiling the graph (StateGraph build + compile)", r"^(compile_workflow|build_graph) "),
    ("LangGraph checkpointer (SQL included)", r"^(SqliteSaver|PostgresSaver)\."),
    ("SQL commit (run records)", r"^(Session\.commit|DefaultDialect\.do_commit) "),
    ("SQL, other (run records)", r"\(sqlalchemy/"),
    ("LangGraph runtime (pregel)", r"\(pregel/"),
]


# Frames of the loop of runs (submit-side resolve included) and of LangGraph's
# executor threads (checkpoint writes); everything else is start-up.
RUNS = r"(^|;)(resolve \(workflows/catalog|start_run \(|execute_run \(|Thread\._bootstrap)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    parts: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    with open(args.profile, encoding="utf-8", errors="replace") as lines:
        samples = list(lines)
    for line in samples:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not re.search(RUNS, stack) or "_find_and_load" in stack:
            continue  # start-up: imports and the database setup before the runs
        frames = stack.split(";")
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            continue  # an executor thread waiting for work (py-spy counts it as busy)
        count = int(count_text)
        total += count
        for label, pattern in PARTS:
            if any(re.search(pattern, f) for f in frames):
                parts[label] += count
                break  # a sample belongs to the first (most specific) part that matches
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            functions[name] += count
    print(f"{total} samples in the runs (all threads; imports and setup left out)")
    for label, _ in PARTS:
        print(f"  {100 * parts[label] / total:5.1f} %  {label}")
    print(f"top {args.top} functions by inclusive samples:")
    for name, count in functions.most_common(args.top):
        print(f"  {100 * count / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
