"""Throughput: runs through the service vs the same work done directly.

    python bench/throughput.py [--part a|b|both] [--runs 50] [--database-url URL]
                               [--concurrency 1]

(a) ``--runs`` logistics bookings (structured requests from the task generator,
approval threshold raised so none waits) against one vLLM on the tiny model:

* **anchor**: the same bookings run in-process one after another
  (``start_run`` + ``execute_run``);
* **service**: all submitted at once over HTTP to a real API, executed by two
  Celery worker processes on Redis.

(b) A tool-only workflow (three tool nodes and an end) is run ``--runs`` times

* **anchor**: the compiled graph invoked directly (``graph.invoke``) with the
  same checkpointer on the same database, one run after another, nothing else;
* **in-process runner**: ``start_run`` + ``execute_run`` (adds run rows, the
  recorded trace, status bookkeeping);
* **service**: ``POST /v1/workflows/bench/runs`` to a real uvicorn API, a real
  Celery worker on Redis executing them (adds HTTP, auth, the queue, leases).

Each part prints runs/s of each way and the ratio to its anchor, measured in
the same run; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
    (workdir / "workflows").mkdir()
    (workdir / "workflows" / "bench.yaml").write_text(SPEC)
    return {**os.environ, **env}


def direct(n: int) -> float:
    """Runs/s of the compiled graph invoked directly, same checkpointer, no bookkeeping."""
    from langchain_core.runnables import RunnableConfig

    from agents.compiler import compile_workflow, initial_state
    from agents.model_client import ModelClient
    from agents.nodes import RunServices
    from agents.trace import StepRecorder
    from forgeyard.checkpoints import open_checkpointer
    from workflows.catalog import resolve

    class NoRecorder(StepRecorder):
        """Records nothing: the anchor is LangGraph and the tools alone."""

        def attempt(self, node: str, visit: int) -> int:
            return 1

        def record(self, **_: object) -> None:  # type: ignore[override]
            return None

    loaded = resolve("bench")
    services = RunServices(run_id="bench", model=ModelClient(), recorder=NoRecorder("bench"))
    with open_checkpointer() as checkpointer:
        graph = compile_workflow(loaded.spec, services, checkpointer)
        started = time.perf_counter()
        for i in range(n):
            config: RunnableConfig = {"configurable": {"thread_id": f"direct-{uuid.uuid4().hex}"}}
            result = graph.invoke(
                initial_state(loaded.spec, {"a": i}, {}), config, durability="sync"
            )
            assert result["output"]["total"] == i + 3
        return n / (time.perf_counter() - started)


def in_process(n: int) -> float:
    from agents.runner import execute_run, start_run
    from workflows.catalog import resolve

    loaded = resolve("bench")
    started = time.perf_counter()
    for i in range(n):
        run = execute_run(start_run(loaded, {"a": i}).id)
        assert run.output == {"end": "done", "total": i + 3}
    return n / (time.perf_counter() - started)


def _finished(ids: list[str]) -> int:
    from sqlmodel import col, func, select

    from forgeyard.db import session_scope
    from forgeyard.models import Run, RunStatus

    with session_scope() as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Run)
                .where(col(Run.id).in_(ids), Run.status == RunStatus.succeeded)
            ).one()
        )


def service(
    n: int,
    env: dict[str, str],
    workdir: Path,
    concurrency: int,
    *,
    workflow: str = "bench",
    inputs: list[dict] | None = None,
    config: dict | None = None,
) -> float:
    """Runs/s through the HTTP API and a Celery worker, submit to last finish."""
    import httpx

    from forgeyard.tenants import TenantExists, create_key, create_tenant

    with contextlib.suppress(TenantExists):
        create_tenant("bench")
    token = create_key("bench").token
    port = 18000 + os.getpid() % 1000
    logs = (workdir / "api.log").open("wb"), (workdir / "worker.log").open("wb")
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.app",
            "worker",
            "--pool",
            "solo" if concurrency == 1 else "prefork",
            "--concurrency",
            str(concurrency),
            "-Q",
            env["FORGEYARD_QUEUE"],
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"API did not start; see {workdir / 'api.log'}")
            time.sleep(0.2)
        time.sleep(3)  # let the worker connect before the clock starts
        started = time.perf_counter()
        ids = []
        for i in range(n):
            body = {"input": inputs[i] if inputs else {"a": i}, "config": config or {}}
            response = client.post(f"/v1/workflows/{workflow}/runs", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
        while _finished(ids) < n:
            if time.perf_counter() - started > 600:
                raise SystemExit(f"runs did not finish; see {workdir / 'worker.log'}")
            time.sleep(0.05)
        return n / (time.perf_counter() - started)
    finally:
        for proc in (api, worker):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


BOOKING_CONFIG = {"approval_threshold_usd": 10**9}


def booking_inputs(n: int) -> list[dict]:
    from workflows.examples.logistics_booking.tasks import generate_tasks

    tasks = generate_tasks(
        n, seed=7, free_text_share=0.0, invalid_share=0.0, denied_share=0.0, hazardous_share=0.0
    )
    return [t.input for t in tasks]


def bookings(n: int, env: dict[str, str], workdir: Path) -> None:
    """Part (a): model-backed bookings, in-process one by one vs service with 2 workers."""
    from agents.runner import execute_run, start_run
    from serving import ModelServer, build_tiny_model
    from workflows.catalog import resolve

    model_dir = build_tiny_model(REPO / ".forgeyard" / "models" / "tiny")
    with ModelServer(model_dir, port=0, log_path=workdir / "vllm.log") as server:
        env = {**env, "FORGEYARD_MODEL_BASE_URL": server.base_url}
        os.environ["FORGEYARD_MODEL_BASE_URL"] = server.base_url
        from forgeyard.settings import get_settings

        get_settings.cache_clear()
        inputs = booking_inputs(n)
        loaded = resolve("logistics_booking")
        started = time.perf_counter()
        for request in inputs:
            run = execute_run(start_run(loaded, request, config=BOOKING_CONFIG).id)
            assert run.status.value == "succeeded", run.error
        anchor = n / (time.perf_counter() - started)
        served = service(
            n, env, workdir, 2, workflow="logistics_booking", inputs=inputs, config=BOOKING_CONFIG
        )
    print(
        f"(a) logistics bookings on the tiny model (vLLM, CPU), {n} runs, database "
        f"{env['DATABASE_URL'].split(':')[0]}"
    )
    print(f"  anchor: in-process, one after another             {anchor:8.2f} runs/s")
    print(
        f"  service: {n} submitted at once, 2 worker processes {served:8.2f} runs/s"
        f"   ratio {served / anchor:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database-url", help="Default: a fresh SQLite file.")
    parser.add_argument("--concurrency", type=int, default=1, help="Worker processes (b).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forgeyard-bench-") as tmp:
        workdir = Path(tmp)
        env = configure(args.database_url, workdir)
        from forgeyard.db import upgrade

        upgrade()
        if args.part in ("a", "both"):
            bookings(args.runs, env, workdir)
        if args.part == "a":
            return
        anchor = direct(args.runs)
        runner = in_process(args.runs)
        served = service(args.runs, env, workdir, args.concurrency)
    print(
        f"tool-only workflow, {args.runs} runs, database {env['DATABASE_URL'].split(':')[0]}, "
        f"worker concurrency {args.concurrency}"
    )
    print(f"  anchor: LangGraph graph.invoke, same checkpointer  {anchor:8.1f} runs/s")
    print(
        f"  in-process runner (trace, run rows)               {runner:8.1f} runs/s"
        f"   ratio {runner / anchor:.3f}"
    )
    print(
        f"  service: HTTP API + Celery worker on Redis        {served:8.1f} runs/s"
        f"   ratio {served / anchor:.3f}"
    )


if __name__ == "__main__":
    main()
