"""The chaos suite's machinery: a whole site on private services, and the faults it survives.

One call, :func:`run_chaos`, starts a site of its own — a PostgreSQL cluster on
a port of its own (``pg_createcluster``), a private ``redis-server``, a
stand-in model server, a webhook receiver, the HTTP API (uvicorn), Celery
worker processes and one sweeper (Celery beat) — submits booking runs of the
shipped ``logistics_booking`` workflow over HTTP and, while they run:

* freezes the lease holder of a run (``SIGSTOP``) inside a model call past its
  lease, lets another worker take the run over, then wakes it (``SIGCONT``);
* ``SIGKILL``\\ s busy workers at random points (the pool process holding a run,
  or now and then a whole worker with its pool, which is replaced);
* restarts Redis (every queued message is lost);
* stops PostgreSQL for a while (an outage), with readers and submitters
  hammering the API meanwhile;
* ``kill -9``\\ s the API during a burst of POSTs carrying idempotency keys,
  starts it again and lets the clients retry with the same keys.

Then it counts, from the database and from every HTTP answer the clients got:
runs submitted / succeeded / failed / stuck / lost, kills, bookings per run,
duplicate ``ok`` steps, effects-ledger duplicates, 5xx (and whether each was a
503 with ``Retry-After``) and connection resets.  :meth:`ChaosReport.problems`
lists what broke a guarantee; the test (``tests/chaos/``) asserts it is empty
at a small scale, ``bench/chaos.py`` prints the figures at a large one.

The model is a stand-in (``tests/support/hostile_model.py`` in a benign mode:
it picks the cheapest quote that meets the deadline and writes a plain
confirmation), because what is under test is the worker, the queue and the
database, not the model; its answers can be delayed so that faults land while
a worker waits inside a model call.

Only processes this module started are signalled: a pid taken from a run's
lease is checked to be one of this site's workers (or a pool child of one)
before anything is sent to it.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.hostile_model import HostileModel

REPO = Path(__file__).resolve().parents[2]
PG_VERSION = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
WORKFLOW = "logistics_booking"
NO_APPROVAL = {"approval_threshold_usd": 10**9}
FINISHED = ("succeeded", "failed", "cancelled")
NO_STEP = "(no step yet)"

# Short leases and a fast sweeper, so a dead or frozen worker is noticed in seconds.
FAST_ENV = {
    "FORGEYARD_LEASE_SECONDS": "3",
    "FORGEYARD_SWEEP_INTERVAL_SECONDS": "1",
    "FORGEYARD_REQUEUE_AFTER_SECONDS": "4",
    "FORGEYARD_WEBHOOK_BACKOFF_SECONDS": "0.5",
    "FORGEYARD_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1/32"]',
    "FORGEYARD_EVENTS_POLL_SECONDS": "0.2",
    "FORGEYARD_MODEL_CONNECT_RETRIES": "3",
    "FORGEYARD_MODEL_TIMEOUT_SECONDS": "60",
    "FORGEYARD_READY_REQUIRES_MODEL": "false",
}


@dataclass
class ChaosPlan:
    """How much chaos: the test's small plan and the benchmark's large one differ only here."""

    runs: int = 10  # booking runs submitted over HTTP, spread over the chaos
    burst: int = 8  # further POSTs sent at once while the API is killed (0: no API kill)
    kills: int = 6  # SIGKILLs of busy workers
    whole_worker_share: float = 0.25  # of the kills, the share that takes a whole worker
    freezes: int = 2  # frozen-worker rounds, one run each, before the main batch
    outage_seconds: float = 8.0  # PostgreSQL outage (0: none)
    redis_restart: bool = True
    workers: int = 3  # worker processes
    concurrency: int = 2  # runs per worker: pool processes (prefork) or threads
    pool: str = "prefork"  # the Celery pool: prefork (kills hit one pool process) or threads
    model_delay: float = 0.3  # seconds each model answer waits
    submit_gap: float = 0.6  # seconds between submissions of the main batch
    kill_gap: tuple[float, float] = (0.5, 2.0)  # seconds between kills (uniform)
    settle_seconds: float = 240.0  # liveness bound for every run to finish after the chaos
    seed: int = 0


@dataclass
class Traffic:
    """Every HTTP answer the clients got, counted (thread-safe)."""

    statuses: Counter[int] = field(default_factory=Counter)
    resets: int = 0  # the connection broke while the API process was up
    timeouts: int = 0
    refused_while_api_down: int = 0  # expected: nothing listens between kill -9 and restart
    bad_5xx: list[str] = field(default_factory=list)  # a 5xx that is not a 503 with Retry-After
    api_down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, url: str, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and not (
                response.status_code == 503 and response.headers.get("Retry-After")
            ):
                self.bad_5xx.append(
                    f"{method} {url} -> {response.status_code}: {response.text[:200]}"
                )

    def failure(self, exc: httpx.TransportError) -> None:
        with self.lock:
            if self.api_down:
                self.refused_while_api_down += 1
            elif isinstance(exc, httpx.TimeoutException):
                self.timeouts += 1
            else:
                self.resets += 1

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass
class FreezeRound:
    """One frozen-worker round, as counted afterwards."""

    run_id: str
    node: str  # the llm node the holder was frozen in
    status: str
    ok_steps_per_visit: int  # the most ok steps of one node visit (1 is right)
    abandoned_steps: int
    model_calls: int  # for this run, by every worker
    llm_ok_steps: int
    webhooks: int
    bookings: int
    noticed: bool  # the frozen worker logged that it stopped, lease lost

    @property
    def problems(self) -> list[str]:
        found = []
        if self.status != "succeeded":
            found.append(f"frozen-worker run {self.run_id} ended {self.status}")
        if self.ok_steps_per_visit != 1:
            found.append(f"frozen-worker run {self.run_id}: a node visit has several ok steps")
        if self.model_calls > self.llm_ok_steps + 1:
            found.append(
                f"frozen-worker run {self.run_id}: {self.model_calls} model calls for "
                f"{self.llm_ok_steps} llm steps (one past the boundary at most)"
            )
        if self.webhooks != 1:
            found.append(f"frozen-worker run {self.run_id}: {self.webhooks} webhooks")
        if self.bookings != 1:
            found.append(f"frozen-worker run {self.run_id}: {self.bookings} bookings")
        if not self.noticed:
            found.append(f"frozen-worker run {self.run_id}: the frozen worker never stopped")
        return found


@dataclass
class ChaosReport:
    """What a chaos run did and what it left behind."""

    plan: ChaosPlan
    submitted: int = 0  # runs accepted (202) over HTTP, counting each idempotency key once
    statuses: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)  # accepted, but not in the database
    stuck: list[str] = field(default_factory=list)  # not finished within the settle bound
    failed: list[str] = field(default_factory=list)  # "run id: error"
    kills: Counter[str] = field(default_factory=Counter)  # by kind: pool process, worker
    kill_nodes: Counter[str] = field(default_factory=Counter)  # where the victims' runs were
    freezes: list[FreezeRound] = field(default_factory=list)
    redis_restarts: int = 0
    outage_seconds: float = 0.0
    outage_503s: int = 0
    api_kills: int = 0
    top_ups: int = 0  # runs added after the main batch, so the killer had busy workers
    bookings_per_run: Counter[int] = field(default_factory=Counter)  # bookings -> runs
    booked_without_booking: list[str] = field(default_factory=list)
    booking_without_booked: list[str] = field(default_factory=list)
    duplicate_ok_steps: list[str] = field(default_factory=list)  # "run node visit xN"
    ledger_duplicates: list[str] = field(default_factory=list)
    ledger_pending: list[str] = field(default_factory=list)
    runs_per_key: Counter[int] = field(default_factory=Counter)  # runs -> idempotency keys
    burst_answers: Counter[str] = field(default_factory=Counter)
    webhooks_per_run: Counter[int] = field(default_factory=Counter)  # deliveries -> runs
    abandoned_steps: int = 0
    executions: int = 0  # lease takings, all runs together
    traffic: Traffic = field(default_factory=Traffic)
    seconds: float = 0.0
    workdir: str = ""

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def problems(self) -> list[str]:
        """Every broken guarantee, in words (empty when the site held)."""
        t = self.traffic
        found = [f"lost run {r}" for r in self.lost]
        found += [f"stuck run {r}" for r in self.stuck]
        found += [f"failed run {r}" for r in self.failed]
        found += [
            f"{n} run(s) with {b} bookings" for b, n in self.bookings_per_run.items() if b > 1
        ]
        found += [f"booked, but no booking row: {r}" for r in self.booked_without_booking]
        found += [f"a booking for a run not booked: {r}" for r in self.booking_without_booked]
        found += [f"duplicate ok steps: {d}" for d in self.duplicate_ok_steps]
        found += [f"ledger duplicate: {d}" for d in self.ledger_duplicates]
        found += [f"ledger row left pending: {d}" for d in self.ledger_pending]
        found += [
            f"{n} idempotency key(s) with {r} runs" for r, n in self.runs_per_key.items() if r != 1
        ]
        if t.statuses[500]:
            found.append(f"{t.statuses[500]} responses with status 500")
        found += [f"not a 503 with Retry-After: {b}" for b in t.bad_5xx[:10]]
        if t.resets:
            found.append(f"{t.resets} connection resets while the API was up")
        if t.timeouts:
            found.append(f"{t.timeouts} requests timed out while the API was up")
        if self.webhooks_per_run[0]:
            found.append(f"{self.webhooks_per_run[0]} finished run(s) never announced (webhook)")
        for round_ in self.freezes:
            found += round_.problems
        return found

    def lines(self) -> list[str]:
        """The figures, one per line, as the benchmark prints them."""
        t, p = self.traffic, self.plan
        per_run = ", ".join(f"{b}: {n}" for b, n in sorted(self.bookings_per_run.items()))
        hooks = ", ".join(f"{d}: {n}" for d, n in sorted(self.webhooks_per_run.items()))
        codes = ", ".join(f"{s}: {n}" for s, n in sorted(t.statuses.items()))
        finished = sum(self.statuses[s] for s in FINISHED)
        return [
            f"runs submitted {self.submitted} (main batch {p.runs}, API-kill burst {p.burst}, "
            f"frozen-worker rounds {len(self.freezes)}, top-ups for the killer {self.top_ups})",
            f"  succeeded {self.statuses['succeeded']}, failed {len(self.failed)}, "
            f"stuck {len(self.stuck)}, lost {len(self.lost)} (finished {finished})",
            f"kills {self.total_kills} (pool process {self.kills['pool']}, whole worker "
            f"{self.kills['worker']}); runs were in: "
            + ", ".join(f"{n} {c}" for n, c in self.kill_nodes.most_common()),
            f"frozen workers {len(self.freezes)} (in "
            + ", ".join(f.node for f in self.freezes)
            + f"): problems {sum(len(f.problems) for f in self.freezes)}",
            f"Redis restarts {self.redis_restarts}; PostgreSQL outage "
            f"{self.outage_seconds:.1f} s ({self.outage_503s} answers 503 meanwhile); "
            f"API kill -9 {self.api_kills} (burst answers: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.burst_answers.items()))
            + ")",
            f"bookings per run (bookings: runs) {{{per_run}}}; booked without booking "
            f"{len(self.booked_without_booking)}, booking without booked "
            f"{len(self.booking_without_booked)}",
            f"duplicate ok steps {len(self.duplicate_ok_steps)}; ledger duplicates "
            f"{len(self.ledger_duplicates)}, pending {len(self.ledger_pending)}; abandoned "
            f"steps {self.abandoned_steps}; lease takings {self.executions}",
            "idempotency keys (runs: keys) "
            + "{"
            + ", ".join(f"{r}: {n}" for r, n in sorted(self.runs_per_key.items()))
            + "}"
            + f"; webhooks per run (deliveries: runs) {{{hooks}}}",
            f"HTTP answers {{{codes}}}; 5xx {t.five_xx}, of which not 503+Retry-After "
            f"{len(t.bad_5xx)}; resets {t.resets}; timeouts {t.timeouts}; refused while the "
            f"API was down {t.refused_while_api_down}",
            f"wall time {self.seconds:.0f} s; problems {len(self.problems())}",
        ]


# -- private services ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL cluster of our own on its own port (trust on loopback); dropped at close."""

    def __init__(self) -> None:
        self.name, self.port = f"fychaos{uuid.uuid4().hex[:6]}", free_port()
        subprocess.run(
            ["pg_createcluster", PG_VERSION, self.name, "-p", str(self.port)],
            check=True,
            capture_output=True,
        )
        self.database = "forgeyard"
        try:
            Path(f"/etc/postgresql/{PG_VERSION}/{self.name}/pg_hba.conf").write_text(
                "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
            )
            self.start()
            with psycopg.connect(self.admin_url, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{self.database}"')
        except BaseException:
            self.close()
            raise

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _ctl(self, action: str) -> None:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                PG_VERSION,
                self.name,
                action,
                *(["-m", "fast"] if action == "stop" else []),
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        self._ctl("stop")

    def start(self) -> None:
        self._ctl("start")

    def close(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", PG_VERSION, self.name], check=False, capture_output=True
        )


class PrivateRedis:
    """A ``redis-server`` of our own (no persistence: a restart loses every message)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, check=False
        )

    def up(self) -> bool:
        return self._cli("ping").stdout.strip() == b"PONG"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(self.dir),
                "--pidfile",
                str(self.dir / "redis.pid"),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            check=True,
            capture_output=True,
        )
        _wait(self.up, 20, "Redis to start")

    def stop(self) -> None:
        self._cli("shutdown", "nosave")
        _wait(lambda: not self.up(), 20, "Redis to stop")

    def restart(self) -> None:
        self.stop()
        self.start()


class WebhookReceiver:
    """Accepts every webhook call on loopback and counts them by run."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls[self.headers["X-Forgeyard-Run"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_QUOTE_LINE = re.compile(r"- (Q-[\w-]+):[^\n]*\n\s*(\d+) USD(.*)")


def _benign_choice(messages: list[dict[str, Any]]) -> dict[str, str]:
    """The workflow's own rule: the cheapest quote that meets the deadline, else the first."""
    quotes = [
        (q, int(p), "misses" in rest) for q, p, rest in _QUOTE_LINE.findall(messages[-1]["content"])
    ]
    on_time = [q for q in quotes if not q[2]]
    return {"quote_id": min(on_time, key=lambda q: q[1])[0] if on_time else quotes[0][0]}


def benign_model(delay: float) -> HostileModel:
    """The stand-in model server, answering as a sensible model would, ``delay`` s per answer."""
    model = HostileModel(honour_schema=True)
    model.script = {
        "choose": [_benign_choice],
        "confirm": ["Your booking is confirmed. Thank you for shipping with us."],
    }
    model.delays = {"choose": delay, "confirm": delay}
    return model


# -- the site's processes ------------------------------------------------------------------
class Proc:
    """A process of the site in a session of its own; its output goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self, tail: int = 100_000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGCONT)
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        # Pool children left in the group (their parent was killed) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.log.close()


def _parent_of(pid: int) -> int | None:
    """The parent of a live process; None for no process or a dead one not yet reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(parent)


class Site:
    """API, workers and beat on the private services, started and stopped together."""

    def __init__(self, workdir: Path, env: dict[str, str], plan: ChaosPlan) -> None:
        self.workdir, self.env, self.plan = workdir, env, plan
        self.api_port = free_port()
        self.api: Proc | None = None
        self.workers: list[Proc] = []
        self.retired: list[Proc] = []  # killed workers, kept for their logs
        self.beat: Proc | None = None
        self._count = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_api(self) -> None:
        argv = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                "--port", str(self.api_port), "--log-level", "warning"]  # fmt: skip
        self.api = Proc("api", argv, self.env, self.workdir)

    def api_healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def start_worker(self) -> Proc:
        self._count += 1
        name = f"worker{self._count}"
        argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker",
                "-P", self.plan.pool, "--concurrency", str(self.plan.concurrency),
                "-Q", self.env["FORGEYARD_QUEUE"], "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "-n", f"{name}@%h"]  # fmt: skip
        worker = Proc(name, argv, self.env, self.workdir)
        self.workers.append(worker)
        return worker

    def start_beat(self) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "--loglevel", "INFO",
                "--schedule", str(self.workdir / "beat-schedule")]  # fmt: skip
        self.beat = Proc("beat", argv, self.env, self.workdir)

    def workers_ready(self) -> bool:
        return all(" ready." in w.output() for w in self.workers)

    def worker_of(self, pid: int) -> Proc | None:
        """The site's worker that ``pid`` is (or whose pool process it is); None if not ours."""
        for worker in self.workers:
            if (
                worker.alive()
                and _parent_of(pid) is not None
                and (pid == worker.pid or _parent_of(pid) == worker.pid)
            ):
                return worker
        return None

    def retire(self, worker: Proc) -> None:
        self.workers.remove(worker)
        self.retired.append(worker)

    def logs(self) -> str:
        procs = [p for p in (self.api, self.beat, *self.workers, *self.retired) if p]
        return "\n".join(f"--- {p.name} ---\n{p.output(4000)}" for p in procs)

    def stop(self) -> None:
        for proc in (self.api, self.beat, *self.workers, *self.retired):
            if proc is not None:
                proc.stop()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy (a liveness bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# -- HTTP clients ---------------------------------------------------------------------------
class Client:
    """A tenant's HTTP client that counts every answer and retries as a careful client would."""

    def __init__(self, site: Site, token: str, traffic: Traffic) -> None:
        self.site, self.traffic = site, traffic
        self.http = httpx.Client(
            base_url=site.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def once(self, method: str, url: str, **kw: Any) -> httpx.Response | None:
        try:
            response = self.http.request(method, url, **kw)
        except httpx.TransportError as exc:
            self.traffic.failure(exc)
            return None
        self.traffic.answer(method, url, response)
        return response

    def until(
        self, method: str, url: str, *, timeout: float = 300, **kw: Any
    ) -> httpx.Response | None:
        """Retry on 503 (after ``Retry-After``, capped) and on broken connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.once(method, url, **kw)
            if response is not None and response.status_code != 503:
                return response
            wait = 0.5
            if response is not None:
                wait = min(float(response.headers.get("Retry-After", 1)), 1.0)
            time.sleep(wait)
        return None

    def submit(self, task_input: dict, key: str, **body: Any) -> str | None:
        """POST a run with an idempotency key until it is accepted; its id."""
        response = self.until(
            "POST",
            f"/v1/workflows/{WORKFLOW}/runs",
            json={"input": task_input, **body},
            headers={"Idempotency-Key": key},
        )
        if response is None or response.status_code not in (200, 201, 202):
            raise AssertionError(
                f"submission {key} refused: {response and (response.status_code, response.text)}"
            )
        return str(response.json()["id"])

    def close(self) -> None:
        self.http.close()


# -- the database's view ----------------------------------------------------------------------
class Ledger:
    """Read-only queries on the site's database in plain SQL (this process's settings untouched)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, connect_timeout=3) as c:
            return list(c.execute(sql, params).fetchall())

    def busy(self) -> list[tuple[str, int, str]]:
        """(run id, pid, last recorded node) of each running run with a lease holder.

        A holder that died still appears until its lease is taken over; callers
        keep only pids that are live processes of the site.
        """
        rows = self.rows(
            "SELECT r.id, r.lease_owner, (SELECT s.node FROM steps s WHERE s.run_id = r.id "
            "ORDER BY s.seq DESC LIMIT 1) FROM runs r WHERE r.status = 'running' "
            "AND r.lease_owner IS NOT NULL"
        )
        return [(r, int(owner.split(":")[1]), node or NO_STEP) for r, owner, node in rows]

    def statuses(self, ids: list[str]) -> dict[str, tuple[str, Any, str | None]]:
        rows = self.rows("SELECT id, status, output, error FROM runs WHERE id = ANY(%s)", ids)
        return {r: (status, output, error) for r, status, output, error in rows}


# -- the scenario -------------------------------------------------------------------------------
class Chaos:
    """One chaos run: the site, its clients, the faults and the counting."""

    def __init__(self, plan: ChaosPlan, workdir: Path, log: Callable[[str], None]) -> None:
        self.plan, self.workdir, self.say = plan, workdir, log
        self.rng = random.Random(plan.seed)
        self.report = ChaosReport(plan, workdir=str(workdir))
        self.traffic = self.report.traffic
        self.accepted: dict[str, str] = {}  # idempotency key -> run id
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.outage = threading.Event()
        self.threads: list[threading.Thread] = []
        self.killed: set[int] = set()  # pids already sent SIGKILL

    # -- set-up ------------------------------------------------------------------
    def start(self, stack: contextlib.ExitStack) -> None:
        self.say("starting a private PostgreSQL cluster and Redis")
        self.pg = PrivatePostgres()
        stack.callback(self.pg.close)
        self.redis = PrivateRedis(self.workdir)
        stack.callback(self.redis.stop)
        self.model = stack.enter_context(benign_model(self.plan.model_delay))
        self.hooks = WebhookReceiver()
        stack.callback(self.hooks.close)
        suffix = uuid.uuid4().hex[:8]
        env = {
            **os.environ,
            **FAST_ENV,
            "DATABASE_URL": self.pg.url,
            "FORGEYARD_BROKER_URL": self.redis.url,
            "FORGEYARD_QUEUE": f"chaos-{suffix}",
            "FORGEYARD_TRAINING_QUEUE": f"chaos-training-{suffix}",
            "FORGEYARD_DATA_DIR": str(self.workdir / "data"),
            "FORGEYARD_MODEL_BASE_URL": self.model.base_url,
            "FORGEYARD_MODEL_NAME": "stand-in",
            "PYTHONPATH": str(REPO),
        }
        for name in ("FORGEYARD_WORKER_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(name, None)
        self.ledger = Ledger(self.pg.dsn)
        token = subprocess.run(
            [sys.executable, "-c", _TENANT_SCRIPT], cwd=REPO, env=env, check=True,
            capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        self.site = Site(self.workdir, env, self.plan)
        stack.callback(self.site.stop)
        self.site.start_api()
        for _ in range(self.plan.workers):
            self.site.start_worker()
        self.site.start_beat()
        _wait(self.site.api_healthy, 120, "the API")
        _wait(self.site.workers_ready, 180, "the workers")
        self.client = Client(self.site, token, self.traffic)
        self.token = token
        self.say(f"site up: API {self.site.base_url}, {self.plan.workers} workers, beat")

    # -- frozen workers -------------------------------------------------------------
    def freeze_round(self, index: int, task_input: dict) -> None:
        """Freeze the holder of a lone run inside a model call, past its lease; wake it after."""
        node = ("choose", "confirm")[index % 2]
        before = len(self.model.requests)
        self.model.delays[node] = 1.5
        run_id = self.client.submit(
            task_input, f"freeze-{index}", config=NO_APPROVAL, webhook_url=self.hooks.url
        )
        assert run_id is not None
        self.accepted[f"freeze-{index}"] = run_id
        _wait(
            lambda: any(n == node for n, _ in self.model.requests[before:]),
            120,
            f"the `{node}` call of {run_id}",
        )
        ((_, pid, _),) = [b for b in self.ledger.busy() if b[0] == run_id]
        worker = self.site.worker_of(pid)
        assert worker is not None, f"lease holder {pid} is not one of this site's workers"
        os.kill(pid, signal.SIGSTOP)
        try:
            self.say(f"froze {worker.name} (pid {pid}) in `{node}` of run {run_id}")
            _wait(
                lambda: self.ledger.statuses([run_id])[run_id][0] in FINISHED,
                120,
                "the run to be taken over and finished",
            )
        finally:
            os.kill(pid, signal.SIGCONT)
            self.model.delays[node] = self.plan.model_delay
        noticed = True
        try:
            _wait(
                lambda: f"run {run_id}: stopped, lease lost" in worker.output(),
                60,
                "the frozen worker to stop",
            )
        except TimeoutError:
            noticed = False
        with contextlib.suppress(TimeoutError):
            _wait(lambda: self.hooks.calls[run_id], 60, "the webhook")
        time.sleep(2.0)  # room for a second delivery or a late write, were there one
        steps = self.ledger.rows(
            "SELECT node, visit, status, kind FROM steps WHERE run_id = %s ORDER BY seq", run_id
        )
        ok = Counter((n, v) for n, v, s, _ in steps if s == "ok")
        calls = [b for n, b in self.model.requests[before:]]
        round_ = FreezeRound(
            run_id=run_id,
            node=node,
            status=self.ledger.statuses([run_id])[run_id][0],
            ok_steps_per_visit=max(ok.values()),
            abandoned_steps=sum(1 for *_, s, _ in steps if s == "abandoned"),
            model_calls=len(calls),
            llm_ok_steps=sum(1 for _, _, s, k in steps if s == "ok" and k == "llm"),
            webhooks=self.hooks.calls[run_id],
            bookings=self.ledger.rows("SELECT count(*) FROM bookings WHERE run_id = %s", run_id)[0][
                0
            ],
            noticed=noticed,
        )
        self.report.freezes.append(round_)
        self.say(
            f"frozen-worker round {index + 1}: {round_.status}, {round_.model_calls} model calls "
            f"for {round_.llm_ok_steps} llm steps, {round_.webhooks} webhook(s), "
            f"{round_.bookings} booking(s), problems {len(round_.problems)}"
        )

    # -- background actors ------------------------------------------------------------
    def _thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def killer(self) -> None:
        """SIGKILL a busy worker (the pool process holding a run, or a whole worker) at random."""
        while not self.stop_event.is_set():
            if self.report.total_kills >= self.plan.kills:
                return
            self.stop_event.wait(self.rng.uniform(*self.plan.kill_gap))
            if self.outage.is_set():
                continue
            try:
                busy = self.ledger.busy()
            except psycopg.Error:
                continue
            # A killed holder keeps its run's lease until it expires: never count it twice.
            victims = [
                (r, pid, node, self.site.worker_of(pid))
                for r, pid, node in busy
                if pid not in self.killed
            ]
            victims = [v for v in victims if v[3] is not None]
            # Under load a run spends long before its first step (spec, graph, checkpointer):
            # prefer runs already under way, so kills land between and inside nodes too.
            under_way = [v for v in victims if v[2] != NO_STEP]
            if under_way and self.rng.random() < 0.75:
                victims = under_way
            if not victims:
                continue
            run_id, pid, node, worker = self.rng.choice(victims)
            assert worker is not None
            self.killed.add(pid)
            # A threads worker runs its runs in its own process: any kill takes all of them.
            if pid == worker.pid or self.rng.random() < self.plan.whole_worker_share:
                worker.kill9()
                self.site.retire(worker)
                self.site.start_worker()
                kind = "worker"
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                kind = "pool"
            self.report.kills[kind] += 1
            self.report.kill_nodes[node] += 1
            self.say(f"kill {self.report.total_kills}: {kind} {pid} of {worker.name}, run "
                     f"{run_id} after `{node}`")  # fmt: skip

    def approver(self) -> None:
        """Approve, over HTTP, every run that waits for a person (as ops staff would)."""
        client = Client(self.site, self.token, self.traffic)
        try:
            while not self.stop_event.is_set():
                response = client.once("GET", "/v1/runs?status=waiting_approval&limit=200")
                if response is not None and response.status_code == 200:
                    for run in response.json()["items"]:
                        client.until(
                            "POST", f"/v1/runs/{run['id']}/approve", json={"comment": "chaos"},
                            timeout=60,
                        )  # fmt: skip
                self.stop_event.wait(0.5)
        finally:
            client.close()

    def reader(self) -> None:
        """Read runs and traces all along, as dashboards do (what an outage must answer 503)."""
        client = Client(self.site, self.token, self.traffic)
        try:
            while not self.stop_event.is_set():
                with self.lock:
                    ids = list(self.accepted.values())
                urls = ["/v1/runs?limit=20", "/readyz"]
                if ids:
                    run_id = self.rng.choice(ids)
                    urls += [f"/v1/runs/{run_id}", f"/v1/runs/{run_id}/steps"]
                for url in urls:
                    response = client.once("GET", url)
                    if (
                        response is not None
                        and response.status_code == 503
                        and (self.outage.is_set())
                    ):
                        self.report.outage_503s += 1
                self.stop_event.wait(0.3)
        finally:
            client.close()

    # -- faults -----------------------------------------------------------------------
    def restart_redis(self) -> None:
        self.say("restarting Redis (every queued message is lost)")
        self.redis.restart()
        self.report.redis_restarts += 1

    def postgres_outage(self) -> None:
        seconds = self.plan.outage_seconds
        self.say(f"stopping PostgreSQL for {seconds:g} s")
        self.outage.set()
        started = time.monotonic()
        self.pg.stop()
        try:
            time.sleep(seconds)
        finally:
            self.pg.start()
            self.report.outage_seconds = time.monotonic() - started
            self.outage.clear()
        self.say("PostgreSQL is back")

    def api_burst(self, tasks: list[dict]) -> None:
        """POST ``len(tasks)`` runs at once; kill -9 the API mid-burst; retry with the same keys."""
        self.say(f"a burst of {len(tasks)} POSTs; the API is killed in the middle of it")
        keys = [f"burst-{i}" for i in range(len(tasks))]
        answered = threading.Semaphore(0)

        def post(i: int) -> str | None:
            client = Client(self.site, self.token, self.traffic)
            try:
                first = client.once(
                    "POST", f"/v1/workflows/{WORKFLOW}/runs",
                    json={"input": tasks[i], "webhook_url": self.hooks.url},
                    headers={"Idempotency-Key": keys[i]},
                )  # fmt: skip
                self.report.burst_answers[
                    "accepted" if first is not None and first.status_code == 202 else "refused"
                ] += 1
                answered.release()
                return client.submit(tasks[i], keys[i], webhook_url=self.hooks.url)
            finally:
                client.close()

        with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            futures = [pool.submit(post, i) for i in range(len(tasks))]
            # Killed once a few answers are back, so some POSTs are in flight at the kill.
            for _ in range(max(1, len(tasks) // 4)):
                answered.acquire(timeout=30)
            assert self.site.api is not None
            self.traffic.api_down = True
            self.site.api.kill9()
            self.report.api_kills += 1
            self.site.retired.append(self.site.api)
            self.site.start_api()
            _wait(self.site.api_healthy, 120, "the API to come back")
            self.traffic.api_down = False
            ids = [f.result() for f in futures]
        with self.lock:
            self.accepted.update({k: r for k, r in zip(keys, ids, strict=True) if r})
        self.say("the API is back; every burst POST was retried to an answer")

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> ChaosReport:
        plan = self.plan
        started = time.monotonic()
        tasks = _tasks(plan.freezes + plan.runs + plan.burst, plan.seed)
        standard = [t for t in tasks if t["kind"] == "standard"]
        for i in range(plan.freezes):
            self.freeze_round(i, standard[i % len(standard)]["input"])
        self._thread(self.approver, "approver")
        self._thread(self.reader, "reader")
        self._thread(self.killer, "killer")
        main = [t["input"] for t in tasks[plan.freezes : plan.freezes + plan.runs]]
        burst = [t["input"] for t in tasks[plan.freezes + plan.runs :]]
        faults: list[tuple[int, Callable[[], None]]] = []
        if plan.redis_restart:
            faults.append((len(main) // 4, self.restart_redis))
        if plan.outage_seconds > 0:
            faults.append((len(main) // 2, self.postgres_outage))
        with ThreadPoolExecutor(max_workers=8) as submitters:
            pending = []
            for i, task_input in enumerate(main):
                for at, fault in faults:
                    if at == i:
                        fault()
                key = f"run-{i}"
                pending.append((key, submitters.submit(
                    self.client_for_thread().submit, task_input, key,
                    webhook_url=self.hooks.url,
                )))  # fmt: skip
                time.sleep(plan.submit_gap)
            for key, future in pending:
                run_id = future.result()
                with self.lock:
                    self.accepted[key] = run_id
        if burst:
            self.api_burst(burst)
        self.say(f"{len(self.accepted)} runs accepted; waiting for the kills and the runs")
        deadline = time.monotonic() + plan.settle_seconds
        extra = iter(_tasks(plan.runs, plan.seed + 1))
        while time.monotonic() < deadline:
            unfinished = self._unfinished()
            if self.report.total_kills >= plan.kills:
                if not unfinished:
                    break
            elif len(unfinished) < 2:
                # The killer needs busy workers: top the batch up until it has its kills.
                task = next(extra, None)
                if task is None:
                    self.say(f"no more runs to top up with after {self.report.total_kills} kills")
                    break
                key = f"extra-{self.report.top_ups}"
                self.report.top_ups += 1
                run_id = self.client.submit(task["input"], key, webhook_url=self.hooks.url)
                with self.lock:
                    self.accepted[key] = run_id
            time.sleep(1.0)
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=90)
        time.sleep(3.0)  # webhooks of the last runs
        self.count()
        self.report.seconds = time.monotonic() - started
        return self.report

    _local = threading.local()

    def client_for_thread(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(self.site, self.token, self.traffic)
        return client

    def _unfinished(self) -> list[str]:
        with self.lock:
            ids = list(self.accepted.values())
        try:
            found = self.ledger.statuses(ids)
        except psycopg.Error:
            return ids
        return [r for r in ids if r not in found or found[r][0] not in FINISHED]

    # -- counting ---------------------------------------------------------------------------
    def count(self) -> None:
        r, q = self.report, self.ledger.rows
        ids = list(self.accepted.values())
        r.submitted = len(self.accepted)
        found = self.ledger.statuses(ids)
        r.lost = [i for i in ids if i not in found]
        for run_id, (status, _, error) in found.items():
            r.statuses[status] += 1
            if status not in FINISHED:
                r.stuck.append(f"{run_id} ({status})")
            elif status != "succeeded":
                r.failed.append(f"{run_id}: {error}")
        bookings = Counter(
            run for (run,) in q("SELECT run_id FROM bookings WHERE run_id = ANY(%s)", ids)
        )
        for run_id, (status, output, _) in found.items():
            booked = isinstance(output, dict) and output.get("status") == "booked"
            r.bookings_per_run[bookings[run_id]] += 1 if booked or bookings[run_id] else 0
            if booked and not bookings[run_id]:
                r.booked_without_booking.append(run_id)
            if bookings[run_id] and not booked:
                r.booking_without_booked.append(f"{run_id} ({status})")
        r.bookings_per_run = +r.bookings_per_run
        r.duplicate_ok_steps = [
            f"{run} {node} visit {visit} x{n}"
            for run, node, visit, n in q(
                "SELECT run_id, node, visit, count(*) FROM steps WHERE status = 'ok' AND "
                "run_id = ANY(%s) GROUP BY run_id, node, visit HAVING count(*) > 1",
                ids,
            )
        ]
        r.ledger_duplicates = [
            f"{run} {node} x{n}"
            for run, node, n in q(
                "SELECT run_id, node, count(*) FROM effects WHERE run_id = ANY(%s) "
                "GROUP BY run_id, node HAVING count(*) > 1",
                ids,
            )
        ]
        r.ledger_pending = [
            f"{run} {node}"
            for run, node in q(
                "SELECT run_id, node FROM effects WHERE run_id = ANY(%s) AND status <> 'done'",
                ids,
            )
        ]
        for (n,) in q(
            "SELECT count(*) FROM runs WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key"
        ):
            r.runs_per_key[n] += 1
        r.abandoned_steps = q(
            "SELECT count(*) FROM steps WHERE status = 'abandoned' AND run_id = ANY(%s)", ids
        )[0][0]
        r.executions = q("SELECT coalesce(sum(executions), 0) FROM runs WHERE id = ANY(%s)", ids)[
            0
        ][0]
        hooked = [i for i in ids if found.get(i, ("",))[0] in FINISHED]
        r.webhooks_per_run = Counter(self.hooks.calls[i] for i in hooked)


_TENANT_SCRIPT = """
from forgeyard import db
from forgeyard.tenants import create_key, create_tenant
db.upgrade()
create_tenant("chaos")
print(create_key("chaos", "chaos-suite").token)
"""


def _tasks(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` structured booking requests: standard, invalid, denied and hazardous ones."""
    from workflows.examples.logistics_booking.tasks import generate_tasks

    tasks = generate_tasks(
        n, seed=seed, free_text_share=0.0, invalid_share=0.1, denied_share=0.1,
        hazardous_share=0.15,
    )  # fmt: skip
    return [{"kind": t.scenario, "input": t.input} for t in tasks]


def run_chaos(
    plan: ChaosPlan, workdir: Path, log: Callable[[str], None] = print
) -> tuple[ChaosReport, str]:
    """Start a site, run the plan's chaos against it, count; the report and the site's logs."""
    workdir.mkdir(parents=True, exist_ok=True)
    chaos = Chaos(plan, workdir, log)
    with contextlib.ExitStack() as stack:
        chaos.start(stack)
        try:
            report = chaos.run()
        finally:
            chaos.stop_event.set()
            logs = chaos.site.logs()
            (workdir / "site.log").write_text(logs)
    return report, logs
