"""Throughput of the hot path (issue 12): each figure next to its anchor, measured in the same run.

    python bench/throughput.py [--quick] [--reps 3] [--runs 200] [--llm-runs 64]
                               [--database-url URL] [--skip-llm]

Rows (each repeated ``--reps`` times; min / median / max of the ratio):

1. **tool-only, in-process runner / bare graph**: ``start_run`` + ``execute_run``
   of a workflow of three tool nodes and an end, against the same compiled
   graph invoked directly (``graph.invoke``) with the same checkpointer on the
   same database and no bookkeeping (runs/s over runs/s).
2. **tool-only, HTTP API + one worker / bare graph**: the same runs submitted
   at once to a real uvicorn API and executed by ONE Celery worker process
   with the default settings (``forgeyard worker``: threads pool,
   ``FORGEYARD_WORKER_CONCURRENCY``), first POST to last finish.
3. **LLM-bound bookings through API + one worker, as a share of vLLM's own
   batching gain**: ``--llm-runs`` logistics bookings on the tiny model. The
   platform's speed-up is (one run at a time, in-process) / (all submitted at
   once to the API and one default worker); vLLM's gain is the same runs'
   recorded model requests sent one at a time / with as many in flight as the
   worker runs at once. The row is the first over the second.
4. **time to submit the runs of row 3, as a share of that run's wall time.**

Also: per-run time of in-process tool-only runs with 1,000 vs 100,000 runs
already in the database (ratio), and the worker's peak RSS while row 3's runs
are in flight.  ``--quick``: fewer runs (the ratios, not the totals, matter).
Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPEC = """\
name: bench
version: "1"
description: Tool-only benchmark workflow.
input:
  type: object
  properties: {a: {type: number}}
  required: [a]
state:
  one: {type: object}
  two: {type: object}
  three: {type: object}
tool_modules: [bench.tools]
start: one
nodes:
  one: {kind: tool, tool: bench.add, args: {a: input.a, b: "1"}, into: one}
  two: {kind: tool, tool: bench.add, args: {a: one.sum, b: "1"}, into: two}
  three: {kind: tool, tool: bench.add, args: {a: two.sum, b: "1"}, into: three}
  done: {kind: end, output: {total: three.sum}}
edges:
  - {from: one, to: two}
  - {from: two, to: three}
  - {from: three, to: done}
"""


def configure(database_url: str | None, workdir: Path) -> dict[str, str]:
    """Environment for this process and the API and worker it starts."""
    env = {
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.db'}",
        "FORGEYARD_DATA_DIR": str(workdir),
        "FORGEYARD_WORKFLOW_DIRS": json.dumps([str(workdir / "workflows")]),
        "FORGEYARD_QUEUE": f"forgeyard-bench-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(REPO),
    }
    os.environ.update(env)
    (workdir / "workflows").mkdir(exist_ok=True)
    (workdir / "workflows" / "bench.yaml").write_text(SPEC)
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    return {**os.environ, **env}


# -- the anchor and the in-process runner ----------------------------------------------
def direct(n: int) -> float:
    """Runs/s of the compiled graph invoked directly, same checkpointer, no bookkeeping."""
    from langchain_core.runnables import RunnableConfig

    from agents.compiler import compiled_graph, initial_state
    from agents.model_client import ModelClient
    from agents.nodes import RunServices
    from agents.trace import StepRecorder
    from workflows.catalog import resolve

    class NoRecorder(StepRecorder):
        """Records nothing: the anchor is LangGraph and the tools alone."""

        def attempt(self, node: str, visit: int) -> int:
            return 1

        def record(self, **_: object) -> None:  # type: ignore[override]
            return None

    loaded = resolve("bench")
    services = RunServices(run_id="bench", model=ModelClient(), recorder=NoRecorder("bench"))
    graph = compiled_graph(loaded)
    started = time.perf_counter()
    for i in range(n):
        config: RunnableConfig = {"configurable": {"thread_id": f"direct-{uuid.uuid4().hex}"}}
        result = graph.invoke(
            initial_state(loaded.spec, {"a": i}, {}), config, context=services, durability="sync"
        )
        assert result["output"]["total"] == i + 3
    return n / (time.perf_counter() - started)


def in_process(n: int) -> float:
    """Runs/s of ``start_run`` + ``execute_run``, the spec resolved by name each time."""
    from agents.runner import execute_run, start_run
    from workflows.catalog import resolve

    started = time.perf_counter()
    for i in range(n):
        run = execute_run(start_run(resolve("bench"), {"a": i}).id)
        assert run.output == {"end": "done", "total": i + 3}, run.error
    return n / (time.perf_counter() - started)


# -- the service: one API, one worker with the default settings -----------------------
def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Service:
    """A real uvicorn API and ONE ``forgeyard worker`` process (default pool and concurrency)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        import httpx

        from forgeyard.tenants import TenantExists, create_key, create_tenant

        with contextlib.suppress(TenantExists):
            create_tenant("bench")
        token = create_key("bench").token
        port = 18000 + os.getpid() % 1000
        self._spawn(
            "api",
            [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)]
            + ["--log-level", "warning"],
        )
        self.worker = self._spawn(
            "worker", [sys.executable, "-m", "forgeyard", "worker", "--loglevel", "WARNING"]
        )
        try:
            self.client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if self.client.get("/healthz").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"API did not start; see {self.workdir / 'api.log'}")
                time.sleep(0.2)
            # The worker is up once it has executed a run.
            self.submit_and_wait("bench", [{"a": 0}], {}, timeout=180)
            yield self
        finally:
            for proc in self.procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    def submit_and_wait(
        self,
        workflow: str,
        inputs: list[dict[str, Any]],
        config: dict[str, Any],
        *,
        timeout: float = 900,
    ) -> dict[str, float]:
        """Submit every input at once; seconds to submit, to the last finish; peak worker RSS."""
        peak = [_rss_kib(self.worker.pid)]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                peak[0] = max(peak[0], _rss_kib(self.worker.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        ids = []
        for run_input in inputs:
            response = self.client.post(
                f"/v1/workflows/{workflow}/runs", json={"input": run_input, "config": config}
            )
            response.raise_for_status()
            ids.append(response.json()["id"])
        submitted = time.perf_counter() - started
        while (left := _unfinished(ids)) > 0:
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"{left} runs did not finish; see {self.workdir / 'worker.log'}")
            time.sleep(0.05)
        total = time.perf_counter() - started
        stop.set()
        sampler.join()
        failed = _failed(ids)
        if failed:
            raise SystemExit(f"runs failed through the service: {failed[:3]}")
        return {"submit": submitted, "total": total, "rss_mib": peak[0] / 1024}


def _unfinished(ids: list[str]) -> int:
    from sqlmodel import col, func, select

    from forgeyard.db import session_scope
    from forgeyard.models import Run, RunStatus

    finished = [RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled]
    with session_scope() as session:
        done = session.exec(
            select(func.count())
            .select_from(Run)
            .where(col(Run.id).in_(ids), col(Run.status).in_(finished))
        ).one()
    return len(ids) - int(done)


def _failed(ids: list[str]) -> list[str]:
    from sqlmodel import col, select

    from forgeyard.db import session_scope
    from forgeyard.models import Run, RunStatus

    with session_scope() as session:
        rows = session.exec(
            select(Run.error).where(col(Run.id).in_(ids), Run.status != RunStatus.succeeded)
        ).all()
    return [str(r) for r in rows]


# -- LLM-bound bookings ------------------------------------------------------------------
BOOKING_CONFIG = {"approval_threshold_usd": 10**9}


def booking_inputs(n: int, seed: int) -> list[dict[str, Any]]:
    from workflows.examples.logistics_booking.tasks import generate_tasks

    tasks = generate_tasks(
        n, seed=seed, free_text_share=0.0, invalid_share=0.0, denied_share=0.0, hazardous_share=0.0
    )
    return [t.input for t in tasks]


def bookings_one_at_a_time(inputs: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """Seconds for the bookings executed in-process one after another, and their run ids."""
    from agents.runner import execute_run, start_run
    from workflows.catalog import resolve

    ids = []
    started = time.perf_counter()
    for request in inputs:
        run = execute_run(
            start_run(resolve("logistics_booking"), request, config=BOOKING_CONFIG).id
        )
        assert run.status.value == "succeeded", run.error
        ids.append(run.id)
    return time.perf_counter() - started, ids


def vllm_gain(run_ids: list[str], in_flight: int) -> float:
    """vLLM's own batching gain on these runs' model requests: serial time / concurrent time.

    The requests are the ones the runs recorded (prompt, schema, the node's
    sampling options), sent one at a time, then ``in_flight`` at a time.
    """
    from sqlmodel import col, select

    from agents.model_client import ModelClient
    from forgeyard.db import session_scope
    from forgeyard.models import Step, StepStatus
    from workflows.catalog import resolve

    spec = resolve("logistics_booking").spec
    with session_scope() as session:
        steps = session.exec(
            select(Step).where(
                col(Step.run_id).in_(run_ids),
                Step.kind == "llm",
                Step.status == StepStatus.ok,
            )
        ).all()
    requests = []
    for step in steps:
        options = spec.nodes[step.node].model  # type: ignore[union-attr]
        requests.append(
            {
                "messages": step.prompt,
                "schema": (step.input or {}).get("schema"),
                "temperature": options.temperature,
                "top_p": options.top_p,
                "max_tokens": options.max_tokens,
                "seed": options.seed,
            }
        )
    client = ModelClient.default()

    def ask(request: dict[str, Any]) -> None:
        # A schema miss (ModelError) still cost the server its tokens: it counts.
        with contextlib.suppress(Exception):
            options = {k: v for k, v in request.items() if k != "messages"}
            client.complete(request["messages"], **options)

    started = time.perf_counter()
    for request in requests:
        ask(request)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(ask, requests))
    concurrent = time.perf_counter() - started
    return serial / concurrent


# -- a large database -------------------------------------------------------------------
def fill_runs(total: int) -> None:
    """Add finished runs of the tool-only workflow until the database holds ``total``."""
    from sqlalchemy import insert
    from sqlmodel import func, select

    from agents.runner import save_spec
    from forgeyard.db import session_scope
    from forgeyard.models import Run, RunStatus, new_id, utcnow
    from workflows.catalog import resolve

    loaded = resolve("bench")
    save_spec(loaded)
    with session_scope() as session:
        have = int(session.exec(select(func.count()).select_from(Run)).one())
    now = utcnow()
    batch = 5000
    for first in range(have, total, batch):
        rows = [
            {
                "id": new_id(),
                "tenant_id": "default",
                "workflow": "bench",
                "workflow_version": "1",
                "spec_hash": loaded.hash,
                "status": RunStatus.succeeded,
                "input": {"a": i},
                "config": {},
                "output": {"end": "done", "total": i + 3},
                "created_at": now,
                "updated_at": now,
                "finished_at": now,
                "webhook_attempts": 0,
                "executions": 1,
                "lease_epoch": 1,
            }
            for i in range(first, min(total, first + batch))
        ]
        with session_scope() as session:
            session.execute(insert(Run), rows)


# -- reporting ---------------------------------------------------------------------------
def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"
        if values
        else "n/a"
    )


def row(
    label: str, figures: list[float], anchors: list[float], ratios: list[float], unit: str
) -> None:
    print(f"  {label}")
    print(
        f"      figure {spread(figures)} {unit}   anchor {spread(anchors)} {unit}   "
        f"ratio {spread(ratios)}"
    )


def repeat(reps: int, fn: Callable[[int], Any]) -> list[Any]:
    return [fn(i) for i in range(reps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer runs per repetition.")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--runs", type=int, help="Tool-only runs per repetition (200; quick 60).")
    parser.add_argument("--llm-runs", type=int, help="Bookings per repetition (64; quick 32).")
    parser.add_argument("--database-url", help="Default: a fresh SQLite file.")
    parser.add_argument("--skip-llm", action="store_true", help="Rows 3 and 4 need vLLM.")
    parser.add_argument(
        "--large", type=int, default=100_000, help="Runs in the large database (100,000)."
    )
    args = parser.parse_args()
    runs = args.runs or (60 if args.quick else 200)
    llm_runs = args.llm_runs or (32 if args.quick else 64)
    with tempfile.TemporaryDirectory(prefix="forgeyard-bench-") as tmp:
        workdir = Path(tmp)
        env = configure(args.database_url, workdir)
        from forgeyard.db import upgrade
        from forgeyard.settings import get_settings

        upgrade()
        settings = get_settings()
        database = env["DATABASE_URL"].split(":")[0]
        print(
            f"hot path, database {database}, {args.reps} repetitions, default worker "
            f"(--pool {settings.worker_pool} --concurrency {settings.worker_concurrency}); "
            "median (min–max)"
        )
        direct(5), in_process(5)  # warm: imports, first compile, connections
        bare = repeat(args.reps, lambda _: direct(runs))
        runner = repeat(args.reps, lambda _: in_process(runs))
        row(
            f"1. tool-only, {runs} runs: in-process runner / bare graph.invoke",
            runner,
            bare,
            [r / b for r, b in zip(runner, bare, strict=True)],
            "runs/s",
        )
        model_server: Any = contextlib.nullcontext()
        if not args.skip_llm:
            from serving import ModelServer, build_tiny_model

            model_dir = build_tiny_model(REPO / ".forgeyard" / "models" / "tiny")
            model_server = ModelServer(model_dir, port=0, log_path=workdir / "vllm.log")
        with model_server as server:
            if server is not None:
                env["FORGEYARD_MODEL_BASE_URL"] = os.environ["FORGEYARD_MODEL_BASE_URL"] = (
                    server.base_url
                )
                get_settings.cache_clear()
            with Service(env, workdir).running() as service:
                served, bare2 = [], []
                for _ in range(args.reps):
                    bare2.append(direct(runs))
                    times = service.submit_and_wait("bench", [{"a": i} for i in range(runs)], {})
                    served.append(runs / times["total"])
                row(
                    f"2. tool-only, {runs} runs: HTTP API + one worker / bare graph.invoke",
                    served,
                    bare2,
                    [s / b for s, b in zip(served, bare2, strict=True)],
                    "runs/s",
                )
                if server is not None:
                    llm(service, llm_runs, args.reps, settings.worker_concurrency)
        many(max(20, runs // 4), args.reps, args.large)


def llm(service: Service, n: int, reps: int, in_flight: int) -> None:
    """Rows 3 and 4, and the worker's RSS."""
    bookings_one_at_a_time(booking_inputs(2, seed=1))  # warm the in-process path
    shares, platform, batching, submit_share, rss = [], [], [], [], []
    for rep in range(reps):
        inputs = booking_inputs(n, seed=7 + rep)
        serial, ids = bookings_one_at_a_time(inputs)
        gain = vllm_gain(ids, min(n, in_flight))
        times = service.submit_and_wait("logistics_booking", inputs, BOOKING_CONFIG)
        speedup = serial / times["total"]
        platform.append(speedup)
        batching.append(gain)
        shares.append(speedup / gain)
        submit_share.append(times["submit"] / times["total"])
        rss.append(times["rss_mib"])
    row(
        f"3. {n} LLM-bound bookings, API + one default worker: speed-up over one at a time "
        f"/ vLLM's gain ({min(n, in_flight)} in flight)",
        platform,
        batching,
        shares,
        "×",
    )
    print(f"  4. time to submit the {n} runs / wall time of row 3's service run")
    print(f"      share {spread(submit_share)}")
    print(f"  worker peak RSS with {n} runs in flight: {spread(rss)} MiB")


def many(n: int, reps: int, total: int) -> None:
    """Per-run time of in-process tool-only runs with 1,000 vs ``total`` runs in the database."""
    fill_runs(1_000)
    small = [1 / in_process(n) for _ in range(reps)]
    fill_runs(total)
    in_process(5)
    large = [1 / in_process(n) for _ in range(reps)]
    ratios = [b / a for a, b in zip(small, large, strict=True)]
    print(f"  per-run time, {n} tool-only runs, with {total:,} runs in the database / with 1,000")
    print(
        f"      large {spread([t * 1000 for t in large])} ms   1k "
        f"{spread([t * 1000 for t in small])} ms   ratio {spread(ratios)}"
    )


if __name__ == "__main__":
    main()
