"""Replay: recorded replays per second vs the runs' own execution; the run list at scale.

    python bench/replay.py [--runs 50] [--repeat 3] [--database-url URL] [--quick]

(a) ``--runs`` varied logistics runs (booked, needs-information, refused,
approved, rejected, hazardous, free text: ``tests/support/logistics_runs.py``)
are executed in-process against one vLLM serving the tiny model — the
**anchor**, timed from ``start_run`` to the run's end (approvals decided at
once).  Then each is replayed in recorded mode (``create_replay`` +
``execute_run``: the pinned spec re-executed, answers served from the
recording, pure tools re-run and compared), ``--repeat`` times.  Printed:
runs/s of each, the ratio replay/original, how many replays were identical,
and the completions vLLM answered during the replays (its own counter; 0 is
the point).

(b) The first page of ``GET /v1/runs`` (50 runs, newest first) with 1,000 and
with 100,000 runs of the tenant in the database (10,000 with ``--quick``),
median of 60 requests to each tenant, alternating, through the ASGI app
in-process; the ratio is large / small.  Rows are bulk-inserted (finished runs, no steps), then the
table is analysed (as PostgreSQL's autovacuum would soon do).

Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def completions_served(server_url: str) -> float:
    with urllib.request.urlopen(f"{server_url}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    return sum(
        float(v) for v in re.findall(r"^vllm:request_success_total\{[^}]*\} (\S+)$", text, re.M)
    )


def part_a(runs: int, repeat: int) -> None:
    from agents.model_client import ModelClient
    from agents.replay import create_replay
    from agents.runner import decide, execute_run, start_run
    from serving.server import ModelServer
    from serving.tiny import build_tiny_model
    from tests.support.logistics_runs import cases
    from workflows.catalog import EXAMPLES_DIR
    from workflows.loader import load_spec

    model_dir = build_tiny_model(REPO / ".forgeyard" / "test-cache" / "tiny-model", overwrite=True)
    loaded = load_spec(EXAMPLES_DIR / "logistics_booking" / "workflow.yaml")
    with ModelServer(model_dir, port=0, max_model_len=1024) as server:
        server.wait_until_healthy()
        model = ModelClient(base_url=server.base_url, model=server.name)
        # One untimed run first: the server's and the process's warm-up.
        warm = next(iter(cases(1)))
        execute_run(start_run(loaded, warm.input, config=warm.config).id, model=model)

        sources, started = [], time.perf_counter()
        for case in cases(runs):
            run = execute_run(start_run(loaded, case.input, config=case.config).id, model=model)
            if run.status.value == "waiting_approval":
                run = decide(run.id, approved=bool(case.decision), by="bench", model=model)
            sources.append(run)
        original = time.perf_counter() - started
        outcomes = sorted({str((r.output or {}).get("status", r.status.value)) for r in sources})

        rates, identical, served = [], 0, completions_served(server.url)
        for _ in range(repeat):
            started = time.perf_counter()
            results = [execute_run(create_replay(r.id).id) for r in sources]
            rates.append(len(sources) / (time.perf_counter() - started))
            identical = sum((r.replay or {}).get("result") == "identical" for r in results)
        during = completions_served(server.url) - served

    anchor = len(sources) / original
    print(f"(a) {len(sources)} logistics runs ({', '.join(outcomes)})")
    print(f"    original execution (anchor): {anchor:8.2f} runs/s  ratio 1")
    median = statistics.median(rates)
    print(
        f"    recorded replay:            {median:8.2f} runs/s  ratio {median / anchor:.2f}"
        f"  (min {min(rates):.2f}, max {max(rates):.2f} over {repeat})"
    )
    print(f"    identical: {identical}/{len(sources)}; completions at vLLM during them: {during:g}")


def _bulk_runs(tenant: str, count: int, spec_hash: str) -> None:
    from sqlalchemy import insert, text

    from forgeyard.db import get_engine
    from forgeyard.models import Run, RunStatus, utcnow

    now = utcnow()
    engine = get_engine()
    batch = 5_000
    for start in range(0, count, batch):
        rows = [
            {
                "id": uuid.uuid4().hex,
                "tenant_id": tenant,
                "workflow": "adder",
                "workflow_version": "1",
                "spec_hash": spec_hash,
                "status": RunStatus.succeeded.name,
                "input": {"a": i},
                "config": {},
                "output": {"end": "done"},
                "created_at": now - timedelta(seconds=i),
                "updated_at": now,
                "kind": "run",
                "executions": 1,
                "webhook_attempts": 0,
            }
            for i in range(start, min(count, start + batch))
        ]
        with engine.begin() as conn:
            conn.execute(insert(Run), rows)
    # Fresh statistics, as autovacuum (PostgreSQL) would have them soon after a
    # bulk load; without, the planner guesses the tenant has a few rows.
    with engine.begin() as conn:
        conn.execute(text("ANALYZE runs"))
    if engine.dialect.name == "sqlite":
        # Fold the bulk load into the database file, as SQLite's own
        # checkpoints do over time; a large write-ahead log slows every read.
        with engine.begin() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def part_b(small: int, large: int) -> None:
    from fastapi.testclient import TestClient

    from agents.runner import save_spec
    from api.main import create_app
    from forgeyard.tenants import create_key, create_tenant
    from tests.support.specs import spec_yaml
    from workflows.loader import load_spec_text

    loaded = load_spec_text(spec_yaml())
    save_spec(loaded)
    headers = {}
    for size in (small, large):
        tenant = create_tenant(f"bench-{size}")
        _bulk_runs(tenant.id, size, loaded.hash)
        headers[size] = {"Authorization": f"Bearer {create_key(tenant.id, 'bench').token}"}
    samples: dict[int, list[float]] = {small: [], large: []}
    with TestClient(create_app()) as client:
        # Alternating the two tenants' requests lets a shared machine's load
        # drift hit both sides alike.
        for i in range(61):
            for size in (small, large):
                started = time.perf_counter()
                response = client.get("/v1/runs?limit=50", headers=headers[size])
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and len(response.json()["items"]) == 50
                if i:  # the first round warms caches up
                    samples[size].append(elapsed)
    timings = {size: statistics.median(values) for size, values in samples.items()}
    print("(b) GET /v1/runs first page (50), median of 60 alternating requests")
    print(f"    {small:>7,} runs: {timings[small] * 1000:7.2f} ms  ratio 1")
    print(
        f"    {large:>7,} runs: {timings[large] * 1000:7.2f} ms  "
        f"ratio {timings[large] / timings[small]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite")
    parser.add_argument("--quick", action="store_true", help="10 runs, 1 repeat, 10,000 rows")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeat = 10, 1
    tmp = tempfile.mkdtemp(prefix="forgeyard-bench-replay-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/bench.db"
    os.environ["FORGEYARD_DATA_DIR"] = tmp

    from forgeyard.db import upgrade
    from forgeyard.settings import apply_offline_environment

    apply_offline_environment()
    upgrade()
    print(f"database: {os.environ['DATABASE_URL'].split('://', 1)[0]}")
    if args.part in ("a", "both"):
        part_a(args.runs, args.repeat)
    if args.part in ("b", "both"):
        part_b(1_000, 10_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
