"""A whole Forgeyard site on one machine, as child processes: the pieces `up` and `demo` start.

Model server (vLLM; reused when one already answers at the configured URL),
Redis (started only when none answers at the broker URL and `redis-server` is
installed), the HTTP API, Celery workers and the one sweeper (`forgeyard
beat`).  Each child runs in its own process group and is stopped with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import httpx
from rich.markup import escape

from agents.model_client import ModelClient
from forgeyard.app.console import console
from forgeyard.settings import child_environment, get_settings

__all__ = ["Stack", "StackError"]


class StackError(RuntimeError):
    """A piece of the stack did not start."""


class _Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, echo: bool):
        self.name, self.argv, self.log = name, argv, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE if echo else self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if echo:
            threading.Thread(target=self._copy_output, daemon=True).start()

    def _copy_output(self) -> None:
        # `up` shows every piece's log in one stream, each line tagged, and keeps the file.
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._log_file.write(raw)
            self._log_file.flush()
            line = escape(raw.decode(errors="replace").rstrip())
            console.print(f"[dim]{self.name:>7} |[/] {line}", highlight=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def load_active_adapters(base_url: str) -> None:
    """Load every tenant's active adapter into a server started here (a warning if one fails).

    A run whose adapter is still missing loads it itself (once) before its node asks.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from serving import ServingError
    from training.adapters import sync_active_adapters

    try:
        loaded = sync_active_adapters(base_url)
    except (ServingError, SQLAlchemyError) as exc:
        # The server still serves the base model; runs load their adapter on first use.
        message = str(exc).splitlines()[0]
        console.print(f"[yellow]warning:[/] active adapters not loaded: {message}")
        return
    if loaded:
        console.print(f"loaded {len(loaded)} active adapter(s): {', '.join(loaded)}")


@contextmanager
def model_server() -> Iterator[ModelClient]:
    """A client for a healthy model server: the configured one, or one started here."""
    from serving.server import ModelServer, free_port, is_healthy

    settings = get_settings()
    if is_healthy(settings.model_base_url):
        console.print(f"using the model server at {settings.model_base_url}")
        load_active_adapters(settings.model_base_url)
        yield ModelClient()
        return
    model_path = settings.serve_model_path
    if model_path is None:
        # The checked-in pretrained base model: it writes legible confirmations.
        # A checkout without it falls back to the random-weight tiny model.
        from serving._errors import ModelBuildError
        from serving.base import checked_in_base_model

        try:
            model_path = checked_in_base_model()
            console.print(f"base model: {model_path}")
        except ModelBuildError:
            from serving.tiny import build_tiny_model

            with console.status("building the tiny local model…"):
                model_path = build_tiny_model(settings.tiny_model_dir)
            console.print(f"tiny model ready in {model_path}")
    # The configured port when it is free (so other commands find the server
    # at FORGEYARD_MODEL_BASE_URL), any free one otherwise.
    port = settings.serve_port
    if port_in_use(settings.serve_host, port):
        port = free_port(settings.serve_host)
    server = ModelServer.from_settings(model=Path(model_path), port=port)
    console.print(f"starting vLLM on {server.base_url} (log: {server.log_path})")
    with console.status("waiting for vLLM to load the model (30–60 s on a CPU)…"):
        server.start()
        try:
            server.wait_until_healthy()
        except BaseException:
            server.stop()
            raise
    console.print(f"[green]vLLM is up[/] at {server.base_url}")
    load_active_adapters(server.base_url)
    try:
        yield ModelClient(base_url=server.base_url, model=server.name)
    finally:
        server.stop()
        console.print("vLLM stopped")


def _wait(check: object, what: str, child: _Child | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if child is not None and not child.alive():
            raise StackError(f"{what} exited while starting; see {child.log}")
        time.sleep(0.5)
    raise StackError(
        f"{what} did not come up within {timeout:.0f} s" + (f"; see {child.log}" if child else "")
    )


class Stack:
    """Start the site's processes; stop them all on exit."""

    def __init__(self, *, workers: int = 1, echo_logs: bool = False) -> None:
        self.settings = get_settings()
        self.workers = workers
        self.echo_logs = echo_logs
        self.log_dir = self.settings.data_dir / "logs"
        self.children: list[_Child] = []
        self.model_base_url = self.settings.model_base_url
        self.model_name = self.settings.model_name
        self.api_url = f"http://{self.settings.api_host}:{self.settings.api_port}"

    @contextmanager
    def running(self) -> Iterator[Stack]:
        """The stack, started; stopped when the block ends (also on Ctrl-C)."""
        with model_server() as model:
            self.model_base_url, self.model_name = model.base_url, model.model
            try:
                self._start_redis()
                self._start_api()
                for i in range(self.workers):
                    self._start_worker(i)
                self._start_beat()
                yield self
            finally:
                # Workers first (they may be mid-run), the model server last.
                for child in reversed(self.children):
                    child.stop()
                if self.children:
                    console.print("stopped: " + ", ".join(c.name for c in self.children))

    def _env(self) -> dict[str, str]:
        return child_environment(
            FORGEYARD_MODEL_BASE_URL=self.model_base_url,
            FORGEYARD_MODEL_NAME=self.model_name,
            PYTHONUNBUFFERED="1",
        )

    def _spawn(self, name: str, argv: list[str]) -> _Child:
        child = _Child(name, argv, self._env(), self.log_dir / f"{name}.log", self.echo_logs)
        self.children.append(child)
        return child

    def _start_redis(self) -> None:
        url = urlparse(self.settings.broker_url)
        host, port = url.hostname or "127.0.0.1", url.port or 6379
        if port_in_use(host, port):
            console.print(f"using Redis at {host}:{port}")
            return
        if host not in ("127.0.0.1", "localhost") or not _which("redis-server"):
            raise StackError(
                f"no Redis answers at {host}:{port} (FORGEYARD_BROKER_URL); start one, "
                "e.g. `redis-server --port 6379 --save '' --appendonly no`"
            )
        child = self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        _wait(lambda: port_in_use(host, port), "Redis", child, 30)
        console.print(f"[green]Redis is up[/] at {host}:{port}")

    def _start_api(self) -> None:
        host, port = self.settings.api_host, self.settings.api_port
        if port_in_use(host, port):
            raise StackError(f"port {port} is taken: set FORGEYARD_API_PORT to a free one")
        child = self._spawn("api", [sys.executable, "-m", "forgeyard", "api"])

        def ready() -> bool:
            try:
                return httpx.get(f"{self.api_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, "the API", child, 120)
        console.print(f"[green]API is up[/] at {self.api_url} (docs: {self.api_url}/docs)")

    def _start_worker(self, index: int) -> None:
        # The default pool (threads, FORGEYARD_WORKER_CONCURRENCY runs at once), so one
        # process keeps the model server's batching busy.
        argv = [sys.executable, "-m", "forgeyard", "worker"]
        self._spawn(f"worker{index + 1}" if self.workers > 1 else "worker", argv)
        console.print(f"worker {index + 1} started (log: {self.log_dir})")

    def _start_beat(self) -> None:
        # The one sweeper of the site, whatever the number of workers.
        self._spawn("beat", [sys.executable, "-m", "forgeyard", "beat"])
        console.print("sweeper started")

    def wait(self) -> None:
        """Block until a child dies (an error) or the user interrupts."""
        while True:
            for child in self.children:
                if not child.alive():
                    raise StackError(
                        f"{child.name} stopped (exit {child.process.returncode}); see {child.log}"
                    )
            time.sleep(1)


def _which(program: str) -> bool:
    from shutil import which

    return which(program) is not None
