"""Service settings: the one place that reads the environment.

Every value can be set as an environment variable with the ``FORGEYARD_``
prefix (``FORGEYARD_MODEL_BASE_URL``), except ``DATABASE_URL``, which keeps
its conventional name.  A ``.env`` file in the working directory is read too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Switches that keep every library we load from calling home.  They are set
# for this process (before vLLM, transformers or LangChain read them) and
# passed to every child process we start, e.g. the vLLM server.
OFFLINE_ENVIRONMENT: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_CALLBACKS_BACKGROUND": "false",
    "TOKENIZERS_PARALLELISM": "false",
}


class Settings(BaseSettings):
    """Forgeyard's configuration, read once from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="FORGEYARD_", env_file=".env", extra="ignore", protected_namespaces=()
    )

    data_dir: Path = Field(
        default=Path(".forgeyard"),
        description="Where the SQLite database, built models and reports live.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "FORGEYARD_DATABASE_URL"),
        description="SQLAlchemy URL. Default: SQLite file under data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    workflow_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Extra directories searched for workflow specs (*/workflow.yaml and "
        "*.yaml), before the shipped examples: a path list separated by `:` (or JSON).",
    )

    model_base_url: str = Field(
        default="http://127.0.0.1:8000/v1",
        description="OpenAI-compatible endpoint of the model server (vLLM).",
    )
    model_name: str = Field(
        default="forgeyard-tiny",
        description="Model name sent with each request (vLLM's --served-model-name).",
    )
    model_api_key: str = Field(default="EMPTY", description="API key for the model server.")
    model_timeout_seconds: float = Field(default=120.0, gt=0)
    model_connect_retries: int = Field(
        default=4, ge=1, description="Tries before a step fails on an unreachable model server."
    )
    model_retry_backoff_seconds: float = Field(default=0.5, ge=0)

    serve_model_path: Path | None = Field(
        default=None,
        description="Model directory or name vLLM serves (`forgeyard model serve`). "
        "Default: the tiny model built under data_dir/models/tiny.",
    )
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    serve_max_model_len: int = 1024
    serve_max_lora_rank: int = 8
    serve_max_loras: int = 4
    serve_cpu_kvcache_space_gib: int = Field(
        default=1, ge=1, description="KV cache of the CPU build of vLLM, in GiB."
    )
    serve_structured_outputs_backend: str | None = Field(
        default="guidance",
        description="vLLM's grammar engine for structured output (guidance, xgrammar; "
        "None: vLLM's auto). guidance kept small models' JSON valid where xgrammar "
        "let control characters through.",
    )
    serve_compact_json: bool = Field(
        default=True,
        description="Structured output without optional whitespace, so a weak model "
        "cannot pad JSON with newlines until max_tokens.",
    )
    serve_extra_args: list[str] = Field(
        default_factory=list, description="Extra command-line arguments passed to vLLM."
    )
    serve_startup_timeout_seconds: float = 300.0

    # -- adapters (promotion gate) ------------------------------------------
    adapter_gate_tasks: int = Field(
        default=60,
        ge=2,
        description="Held-out tasks generated for the promotion gate (the node's environment "
        "keeps those that reach the node).",
    )
    adapter_gate_seed: int = Field(
        default=1_000_003, description="Seed of the held-out tasks; never a training seed."
    )
    adapter_gate_margin: float = Field(
        default=0.0,
        description="A candidate's mean reward gain must have its 95% interval above this.",
    )

    # -- service (HTTP API and workers) ------------------------------------
    environment: str = Field(
        default="development",
        description="`development` allows placeholder secrets; anything else refuses them.",
    )
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Celery broker (Redis). It only carries messages; runs live in the database.",
    )
    queue: str = Field(default="forgeyard", description="Celery queue the run tasks go to.")
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    max_request_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger request bodies are refused with 413."
    )
    api_tool_modules: list[str] = Field(
        default_factory=lambda: ["workflows.examples.logistics_booking.tools"],
        description="Tool modules a spec registered over HTTP may import (importing runs code).",
    )
    api_reward_grader_modules: list[str] = Field(
        default_factory=lambda: ["rewards.examples.logistics_booking.graders"],
        description="Modules whose functions a reward spec registered over HTTP may use as "
        "`python` graders (importing runs code).",
    )
    events_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often the event stream looks for new steps."
    )
    run_wait_max_seconds: float = Field(
        default=120.0,
        gt=0,
        description="The longest a request may wait for a run to settle (`?wait=`, "
        "`/v1/runs/{id}/wait?timeout=`); a longer ask waits this long. The API polls the "
        "database meanwhile and holds no connection between looks.",
    )
    ready_requires_model: bool = Field(
        default=False,
        description="Whether /readyz fails when the model server is down (tool-only "
        "workflows run without it, so by default it is reported, not required).",
    )
    retry_after_seconds: int = Field(
        default=5,
        ge=1,
        description="The Retry-After of a 503 while the database or broker is unreachable.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="`forgeyard api` and `forgeyard worker` run `forgeyard db upgrade` "
        "(locked, so safe at once) before serving. Off: they wait for the schema instead "
        "(upgrades done by a separate release step).",
    )
    schema_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long an API or worker waits for the database to reach the "
        "schema it needs before it exits naming `forgeyard db upgrade`.",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="A worker holds a run this long without a heartbeat."
    )
    sweep_interval_seconds: float = Field(
        default=10.0, gt=0, description="How often the sweeper looks for orphaned runs."
    )
    requeue_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A queued run no worker picked up in this time is enqueued again "
        "(its message may have been lost with Redis).",
    )
    worker_pool: Literal["threads", "prefork", "solo"] = Field(
        default="threads",
        description="Celery pool of `forgeyard worker` on the runs queue: `threads` holds "
        "many model-bound runs in one process (vLLM batches their requests). Training "
        "workers always use `prefork` with one job at a time.",
    )
    worker_concurrency: int = Field(
        default=32,
        ge=1,
        description="Runs one `forgeyard worker` process executes at once (threads pool).",
    )
    database_pool_size: int = Field(
        default=40,
        ge=1,
        description="Connections each process keeps to the database (SQLAlchemy pool); "
        "at least the worker concurrency plus its heartbeats' few.",
    )
    checkpoint_pool_size: int = Field(
        default=40,
        ge=1,
        description="Most PostgreSQL connections of each process's LangGraph checkpointer "
        "pool (SQLite: one connection per thread, kept).",
    )
    spec_cache_size: int = Field(
        default=256,
        ge=1,
        description="Parsed and validated workflow specs kept per process (LRU, by content "
        "hash, so an edited file is parsed again).",
    )
    graph_cache_size: int = Field(
        default=64,
        ge=1,
        description="Compiled LangGraph graphs kept per process (LRU, one per spec hash).",
    )
    training_queue: str = Field(
        default="forgeyard-training",
        description="Celery queue of GRPO training jobs, so long jobs never hold up runs "
        "(`forgeyard worker --queues training`).",
    )
    training_max_attempts: int = Field(
        default=3,
        ge=1,
        description="A training job whose worker died this many times is failed, not retried.",
    )
    evaluation_max_attempts: int = Field(
        default=3,
        ge=1,
        description="A reward-model evaluation whose worker died this many times is failed, "
        "not sent again.",
    )
    promotion_max_attempts: int = Field(
        default=3,
        ge=1,
        description="An adapter promotion whose worker died this many times is failed (the "
        "adapter stays a candidate), not sent again.",
    )
    webhook_secret: str = Field(
        default="change-me", description="HMAC-SHA256 key that signs webhook calls."
    )
    webhook_previous_secret: str | None = Field(
        default=None,
        description="The secret being rotated out: while set, every call carries a signature "
        "with each secret, so receivers can move to the new one at their own pace.",
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Where webhooks may be sent (JSON list): host names (`hooks.acme.example`, "
        "`*.acme.example`) and IP addresses or networks (`10.20.0.0/16`, `127.0.0.1`). "
        "Empty: every webhook_url is refused.",
    )
    webhook_max_attempts: int = Field(default=6, ge=1)
    console_secret: str = Field(
        default="change-me",
        description="Key that signs the ops console's session cookies (`/ui`).",
    )
    console_session_seconds: int = Field(
        default=8 * 3600, gt=0, description="An ops console login lasts this long."
    )
    webhook_backoff_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay of a webhook; doubles each try."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    # -- observability (README, "Observability") ------------------------------
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object a line with run_id, tenant_id, node and attempt "
        "where known (for a log collector); `text`: plain lines.",
    )
    log_level: str = Field(default="INFO", description="Level of Forgeyard's own log lines.")
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A worker serves Prometheus metrics on this port (unset: none).",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR"),
        description="prometheus-client's multiprocess directory: set it when several API "
        "processes (uvicorn --workers) must be scraped as one.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OpenTelemetry's standard variable: where traces go over OTLP/HTTP "
        "(e.g. http://collector:4318). Unset (and no OTEL_TRACES_EXPORTER): no tracing.",
    )
    otel_traces_exporter: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER"),
        description="OpenTelemetry's standard variable: `otlp` turns traces on (endpoint "
        "from the other OTEL_* variables), `none` keeps them off.",
    )

    @field_validator("workflow_dirs", mode="before")
    @classmethod
    def _split_path_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part]
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_scheme(cls, value: str | None) -> str | None:
        # Operators paste libpq-style URLs; SQLAlchemy needs the driver named.
        if value and value.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "development":
            return self
        for name in ("webhook_secret", "console_secret"):
            if getattr(self, name) == "change-me":
                raise ValueError(
                    f"FORGEYARD_{name.upper()} is the placeholder `change-me`; set a random "
                    "secret (e.g. `openssl rand -hex 32`) or FORGEYARD_ENVIRONMENT=development"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one, or SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'forgeyard.db').resolve()}"

    @property
    def tiny_model_dir(self) -> Path:
        return self.data_dir / "models" / "tiny"


@dataclass(frozen=True)
class SettingSource:
    """One setting as `forgeyard config show` reports it."""

    field: str
    variable: str
    value: str
    source: Literal["default", "environment", ".env"]
    secret: bool


MASK = "********"
_SECRET_WORDS = ("secret", "key", "password", "token")


def _is_secret(name: str, value: Any) -> bool:
    return isinstance(value, SecretStr) or any(word in name for word in _SECRET_WORDS)


def _mask_url_password(text: str) -> str:
    # Database and broker URLs carry credentials: keep the URL, hide the password.
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.password:
        return text
    netloc = f"{parts.username or ''}:{MASK}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def environment_names(name: str) -> list[str]:
    """The environment variables a setting is read from, the documented one first."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def describe_settings(settings: Settings, env_file: Path | None = None) -> list[SettingSource]:
    """Every setting with its value and where it came from; secrets and URL passwords masked.

    The environment wins over the ``.env`` file, which wins over the default,
    as in :class:`Settings` itself.
    """
    from dotenv import dotenv_values  # pydantic-settings' own .env reader

    env_file = env_file or Path(str(Settings.model_config.get("env_file") or ".env"))
    dotenv = {k.upper() for k in dotenv_values(env_file)} if env_file.is_file() else set()
    environ = {k.upper() for k in os.environ}
    described = []
    for name in Settings.model_fields:
        variables = environment_names(name)
        source: Literal["default", "environment", ".env"] = "default"
        variable = variables[0]
        for candidate in variables:
            if candidate in environ:
                source, variable = "environment", candidate
                break
        else:
            for candidate in variables:
                if candidate in dotenv:
                    source, variable = ".env", candidate
                    break
        value = getattr(settings, name)
        secret = _is_secret(name, value)
        if secret:
            shown = MASK if value else ""
        elif isinstance(value, list):
            shown = json.dumps([str(v) for v in value])
        else:
            shown = _mask_url_password(str(value)) if value is not None else ""
        described.append(SettingSource(name, variable, shown, source, secret))
    return described


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()


def apply_offline_environment() -> None:
    """Set the no-call-home switches for this process, keeping explicit operator values."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def child_environment(**extra: str) -> dict[str, str]:
    """Environment for a child process: ours, the offline switches, then ``extra``."""
    env = dict(os.environ)
    env.update(OFFLINE_ENVIRONMENT)
    env.update(extra)
    return env
