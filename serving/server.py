"""A vLLM OpenAI-compatible server, run as a child process.

The server runs in its own process group: vLLM starts an engine-core process
of its own, and stopping the group is the one way to be sure both are gone.
Runtime LoRA loading is switched on, so per-customer adapters can be added
and removed without a restart.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from forgeyard.settings import Settings, child_environment, get_settings
from serving._errors import ModelServerError, ServerStartError
from serving._http import is_healthy
from serving.adapters import load_adapter, unload_adapter

LOG_TAIL_LINES = 30
_POLL_INTERVAL_SECONDS = 0.5


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_dtype() -> str:
    """``auto`` (the model's own, usually bf16) on CUDA; float32 on the CPU backend."""
    import torch

    return "auto" if torch.cuda.is_available() else "float32"


class ModelServer:
    """One vLLM OpenAI-compatible server process.

    Use as a context manager (start, wait until healthy, stop on exit) or call
    :meth:`start`, :meth:`wait_until_healthy` and :meth:`stop` yourself::

        with ModelServer("/models/tiny", port=0) as server:
            openai.OpenAI(base_url=server.base_url, api_key="EMPTY")
    """

    def __init__(
        self,
        model: str | Path,
        *,
        name: str = "forgeyard-tiny",
        host: str = "127.0.0.1",
        port: int = 8000,
        max_model_len: int = 1024,
        max_loras: int = 4,
        max_lora_rank: int = 8,
        dtype: str | None = None,
        kv_cache_space_gib: int = 1,
        structured_outputs_backend: str | None = "guidance",
        compact_json: bool = True,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        startup_timeout: float = 300.0,
    ) -> None:
        """Describe the server; nothing starts until :meth:`start`.

        Args:
            model: Model directory or name (offline: it must be local or cached).
            name: Name clients send as ``model`` (``--served-model-name``).
            host: Interface to listen on.
            port: TCP port; 0 picks a free one.
            max_model_len: Longest prompt plus completion, in tokens.
            max_loras: Adapters usable in one batch.
            max_lora_rank: Largest adapter rank accepted (vLLM allows 1, 8, 16, 32, …).
            dtype: vLLM ``--dtype``; None picks :func:`default_dtype`.
            kv_cache_space_gib: KV cache size on the CPU backend (``VLLM_CPU_KVCACHE_SPACE``).
            structured_outputs_backend: Grammar engine for ``response_format``
                (``guidance``, ``xgrammar``, …); None leaves vLLM's ``auto``.
                guidance is the default: with vLLM 0.32's xgrammar, strings
                with ``maxLength`` may contain raw control characters (invalid JSON).
            compact_json: Structured (JSON) output without optional whitespace.
                Grammars that allow whitespace between tokens let a weak model
                emit newlines until ``max_tokens``; compact JSON also costs fewer
                tokens.  Needs an explicit ``structured_outputs_backend``.
            extra_args: More vLLM command-line arguments, appended last.
            log_path: Where the server's stdout and stderr go; default
                ``<data_dir>/logs/vllm-<port>.log``.
            startup_timeout: Default seconds for :meth:`wait_until_healthy`.

        Raises:
            ValueError: ``compact_json`` without a structured-outputs backend.
        """
        self.model = str(model)
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self.max_model_len = max_model_len
        self.max_loras = max_loras
        self.max_lora_rank = max_lora_rank
        self.dtype = dtype
        self.kv_cache_space_gib = kv_cache_space_gib
        if compact_json and structured_outputs_backend in (None, "auto"):
            raise ValueError(
                "compact_json needs structured_outputs_backend 'guidance' or 'xgrammar' "
                "(vLLM refuses disable_any_whitespace with 'auto'); set one or pass "
                "compact_json=False"
            )
        self.structured_outputs_backend = structured_outputs_backend
        self.compact_json = compact_json
        self.extra_args = list(extra_args)
        self.log_path = log_path or get_settings().data_dir / "logs" / f"vllm-{self.port}.log"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> ModelServer:
        """A server configured from Forgeyard settings; keyword arguments win.

        Without ``model`` in ``overrides`` it serves ``serve_model_path`` or, if
        unset, the tiny model directory (which must already be built).
        """
        s = settings or get_settings()
        options: dict[str, Any] = {
            # Absolute, so that start() can tell a missing directory from a hub name.
            "model": s.serve_model_path or s.tiny_model_dir.resolve(),
            "name": s.model_name,
            "host": s.serve_host,
            "port": s.serve_port,
            "max_model_len": s.serve_max_model_len,
            "max_loras": s.serve_max_loras,
            "max_lora_rank": s.serve_max_lora_rank,
            "kv_cache_space_gib": s.serve_cpu_kvcache_space_gib,
            "structured_outputs_backend": s.serve_structured_outputs_backend,
            "compact_json": s.serve_compact_json,
            "extra_args": s.serve_extra_args,
            "startup_timeout": s.serve_startup_timeout_seconds,
        }
        options.update(overrides)
        return cls(**options)

    # -- addresses ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8000``."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8000/v1``."""
        return f"{self.url}/v1"

    # -- process -----------------------------------------------------------

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model,
            "--served-model-name", self.name,
            "--host", self.host,
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--enable-lora",
            "--max-loras", str(self.max_loras),
            "--max-lora-rank", str(self.max_lora_rank),
            "--dtype", self.dtype or default_dtype(),
            *self._structured_outputs_args(),
            *self.extra_args,
        ]  # fmt: skip

    def _structured_outputs_args(self) -> list[str]:
        # Dotted form: vLLM merges these with any --structured-outputs-config.*
        # in extra_args, the later value winning.
        args = []
        if self.structured_outputs_backend not in (None, "auto"):
            args += ["--structured-outputs-config.backend", str(self.structured_outputs_backend)]
        if self.compact_json:
            args += ["--structured-outputs-config.disable_any_whitespace", "true"]
        return args

    def environment(self) -> dict[str, str]:
        """The server's environment: ours, the offline switches, runtime LoRA on."""
        return child_environment(
            VLLM_ALLOW_RUNTIME_LORA_UPDATING="True",
            VLLM_CPU_KVCACHE_SPACE=str(self.kv_cache_space_gib),
        )

    @property
    def pid(self) -> int | None:
        """The server's process id, None before :meth:`start`."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive (healthy or not)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> ModelServer:
        """Start the server process and return at once; see :meth:`wait_until_healthy`.

        Raises:
            ModelServerError: It is already running, or the port is taken.
        """
        if self.running:
            raise ModelServerError(f"the vLLM server (pid {self.pid}) is already running")
        # Offline, vLLM would take a missing directory for a hub name and fail
        # 10 s later with a traceback; a path-like name is checked here instead.
        if (
            self.model.startswith(("/", "./", "../", "~"))
            and not Path(self.model).expanduser().is_dir()
        ):
            raise ModelServerError(
                f"model directory {self.model} does not exist; build one with "
                "`forgeyard model build-tiny` or pass another --model"
            )
        if is_healthy(self.url, timeout=1.0):
            raise ModelServerError(
                f"a server already answers at {self.url}; stop it or choose another port"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("wb")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            # Own process group: stop() reaches vLLM's engine process too, and
            # a Ctrl-C in the terminal reaches only us, so we stop it in order.
            start_new_session=True,
        )
        atexit.register(self.stop)
        return self

    def wait_until_healthy(self, timeout: float | None = None) -> ModelServer:
        """Block until ``GET /health`` answers 200.

        Args:
            timeout: Seconds to wait; default the ``startup_timeout`` given at construction.

        Raises:
            ServerStartError: The process exited, or was not healthy in time; the
                message holds the last lines of its log.
        """
        if self._process is None:
            raise ModelServerError("the vLLM server was not started; call start() first")
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(
                    f"the vLLM server exited with code {code} while starting "
                    f"(model {self.model}); last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if is_healthy(self.url):
                return self
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"the vLLM server at {self.url} was not healthy after {limit:.0f} s "
                    f"(it is still running); last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_SECONDS)

    def stop(self, grace: float = 15.0) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``grace`` seconds.

        Safe to call more than once, and on a server that never started.
        """
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
            # Also reaps the engine process if the front end left it behind.
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        try:
            with self.log_path.open(encoding="utf-8", errors="replace") as log:
                return "".join(deque(log, maxlen=lines)).rstrip()
        except OSError as exc:
            return f"(cannot read the log: {exc.strerror})"

    def __enter__(self) -> ModelServer:
        self.start()
        try:
            self.wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- API ---------------------------------------------------------------

    def served_models(self) -> list[str]:
        """Names the server answers to: the base model and each loaded adapter."""
        try:
            response = httpx.get(f"{self.base_url}/models", timeout=10.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ModelServerError(f"cannot list models at {self.base_url}: {exc}") from exc
        return [entry["id"] for entry in response.json()["data"]]

    def load_adapter(self, name: str, path: str | Path, *, replace: bool = False) -> None:
        """Load a LoRA adapter under ``name``; see :func:`load_adapter`."""
        load_adapter(self.url, name, path, replace=replace)

    def unload_adapter(self, name: str) -> None:
        """Unload the LoRA adapter ``name``; see :func:`unload_adapter`."""
        unload_adapter(self.url, name)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Already gone: nothing left to stop.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
