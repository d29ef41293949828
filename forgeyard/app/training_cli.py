"""``forgeyard train …``: start GRPO training jobs, follow them, list and show them.

``train grpo`` has one option per :class:`~training.config.GRPOJobConfig`
field, made from the dataclass with its help text, so the CLI never falls
behind the configuration.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from forgeyard.app.console import console, err_console
from training.config import ConfigError, GRPOJobConfig

app = typer.Typer(
    help="Train a tenant's agent: GRPO jobs that produce LoRA adapters.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
jobs_app = typer.Typer(help="Training jobs: list them, show one.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

F = TypeVar("F", bound=Callable[..., Any])

# Option names that differ from the field's (the spelling).
OPTION_NAMES = {"reward_model": ("--reward", "--reward-model")}
_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool | None": bool}


def _user_errors(fn: F) -> F:
    """Bad configuration or names: every problem printed, exit code 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from training import TrainingError
        from training.jobs import TrainingJobNotFound

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err_console.print("[red]error:[/] invalid training configuration:")
            for name, message in exc.problems.items():
                err_console.print(f"  {_option(name)}: {escape(message)}")
            raise typer.Exit(2) from None
        except TrainingError as exc:
            where = f"{_option(exc.field)}: " if exc.field else ""
            err_console.print(f"[red]error:[/] {where}{escape(str(exc))}")
            raise typer.Exit(2) from None
        except TrainingJobNotFound as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _option(name: str) -> str:
    """The option that sets config field ``name``."""
    return OPTION_NAMES.get(name, (f"--{name.replace('_', '-')}",))[0]


def _config_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per config field, as a typer option with the field's help."""
    params = []
    for f in dataclasses.fields(GRPOJobConfig):
        kind = _TYPES[str(f.type)]
        default = f.default
        shown = "" if default in ("", None) else f" (default: {default})"
        help_text = f"{f.metadata.get('help', '')}{shown}"
        dashed = f"--{f.name.replace('_', '-')}"
        if kind is bool:
            names: tuple[str, ...] = (f"{dashed}/--no-{f.name.replace('_', '-')}",)
        else:
            names = OPTION_NAMES.get(f.name, (dashed,))
        option = typer.Option(*names, help=help_text, show_default=False)
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[kind | None, option],  # type: ignore[valid-type]
            )
        )
    return params


def _with_config_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(config_values, **own)`` as a command taking its own options plus every field's."""
    own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
    fields = {f.name for f in dataclasses.fields(GRPOJobConfig)}

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        values = {k: v for k, v in kwargs.items() if k in fields and v is not None}
        return fn(values, **{k: v for k, v in kwargs.items() if k not in fields})

    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    params = _config_parameters() + own
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    del command.__wrapped__  # typer must see the new signature, not fn's
    return command


def _db() -> None:
    from forgeyard.db import upgrade

    upgrade()


@_user_errors
def grpo(
    values: dict[str, Any],
    queue: Annotated[
        bool,
        typer.Option(
            "--queue", help="Send the job to a training worker instead of running it here."
        ),
    ] = False,
) -> None:
    """Train a LoRA adapter for one workflow node with GRPO, against an approved reward model."""
    from training.jobs import create_job

    config = GRPOJobConfig.from_dict(values)
    _db()
    job = create_job(config)
    console.print(
        f"training job [bold]{job.id}[/]: {job.workflow}.{job.node} of tenant `{job.tenant_id}`, "
        f"{job.total_steps} steps, reward model {job.reward_model_id}, base {job.base_model}"
    )
    if queue:
        from worker.training import enqueue

        sent = enqueue(job.id)
        state = "sent to a training worker" if sent else "recorded; the broker is unreachable"
        console.print(
            f"{state} (`forgeyard worker --queues training` serves it); follow it with "
            f"`forgeyard train jobs show {job.id}`"
        )
        return
    _run_here(job.id)


app.command("grpo")(_with_config_options(grpo))


def _run_here(job_id: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from training.jobs import run_job

    columns = (
        TextColumn("[bold]training[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=None, stats="starting…")

        def on_progress(job: Any, metrics: dict[str, Any]) -> None:
            progress.update(task, completed=job.step, total=job.total_steps, stats=_stats(metrics))

        try:
            job = run_job(job_id, on_progress=on_progress)
        except KeyboardInterrupt:
            err_console.print(f"interrupted; job {job_id} failed, its checkpoints are kept")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the job holds the error; show it, exit 1
            err_console.print(f"[red]training job {job_id} failed:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
    summary = job.summary or {}
    console.print(f"[green]done[/]: adapter [bold]{job.adapter_id}[/] (candidate)")
    from training.jobs import adapter_of

    adapter = adapter_of(job)
    console.print(f"  adapter: {adapter.path if adapter else '?'}")
    console.print(f"  plot:    {summary.get('plot')}")
    console.print(f"  report:  {summary.get('report')}")


def _stats(metrics: dict[str, Any]) -> str:
    parts = []
    for name, label in (("reward_mean", "reward"), ("kl", "KL")):
        value = metrics.get(name)
        if isinstance(value, int | float):
            parts.append(f"{label} {value:.3f}")
    return "  ".join(parts)


@jobs_app.command("list")
def jobs_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's jobs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List training jobs, newest first."""
    from training.jobs import list_jobs

    _db()
    for job in list_jobs(tenant_id=tenant, limit=limit):
        console.print(
            f"{job.id}  {job.status.value:<9}  {job.step}/{job.total_steps}  "
            f"{job.tenant_id}  {job.workflow}.{job.node}  [dim]{job.created_at:%Y-%m-%d %H:%M}  "
            f"{escape(job.message or '')}[/]"
        )


@jobs_app.command("show")
@_user_errors
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="Job id (see `train jobs list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print job and metrics as JSON.")] = False,
) -> None:
    """Show a training job: status, progress, error, adapter and its step metrics."""
    from training.jobs import get_job, job_metrics

    _db()
    job = get_job(job_id)
    rows = job_metrics(job_id)
    if as_json:
        payload = {
            "job": job.model_dump(mode="json"),
            "metrics": [r.model_dump(mode="json", exclude={"id"}) for r in rows],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    console.print(
        f"job [bold]{job.id}[/]  {job.status.value}  step {job.step}/{job.total_steps}  "
        f"attempts {job.attempts}"
    )
    console.print(f"  {job.tenant_id}  {job.workflow}.{job.node}  reward {job.reward_model_id}")
    console.print(f"  base {job.base_model}\n  output {job.output_dir}")
    if job.message:
        console.print(f"  {escape(job.message)}")
    if job.error:
        console.print(f"  [red]error:[/] {escape(job.error)}")
    if job.adapter_id:
        console.print(f"  adapter {job.adapter_id}; plot {(job.summary or {}).get('plot')}")
    for r in rows:
        console.print(
            f"  step {r.step:>4}  reward {_fmt(r.reward_mean)} ± {_fmt(r.reward_std)}  "
            f"zero-var {_fmt(r.frac_zero_std)}  KL {_fmt(r.kl)}  loss {_fmt(r.loss)}"
        )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
