"""``forgeyard model …``: build the tiny model and serve a model with vLLM."""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from forgeyard.settings import apply_offline_environment

# Before anything imports transformers or vLLM.
apply_offline_environment()

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402

from forgeyard.app.console import console, err_console  # noqa: E402
from forgeyard.settings import get_settings  # noqa: E402
from serving._errors import ServingError  # noqa: E402
from serving.base import BASE_MODEL_DIR, build_base_model  # noqa: E402
from serving.server import ModelServer  # noqa: E402
from serving.tiny import build_tiny_model, read_manifest  # noqa: E402

app = typer.Typer(
    help="Build and serve the local model.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(fn: F) -> F:
    """Print serving errors as one message with exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ServingError, ValueError, OSError) as exc:
            # escape(): log tails are full of "[...]" that rich would read as markup.
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.command("build-tiny")
@_user_errors
def build_tiny(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to write the model. Default: <data_dir>/models/tiny."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
    vocab_size: Annotated[int, typer.Option(help="Tokenizer vocabulary size.")] = 2048,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a directory that holds something else.")
    ] = False,
) -> None:
    """Build the tiny offline Qwen2-style model (random weights, domain tokenizer)."""
    target = directory or get_settings().tiny_model_dir
    with console.status(f"building the tiny model in {target}…"):
        build_tiny_model(target, seed=seed, vocab_size=vocab_size, overwrite=overwrite)
    manifest = read_manifest(target) or {}
    console.print(
        f"tiny model in [bold]{escape(str(target))}[/]: "
        f"{manifest.get('parameters', 0):,} parameters, "
        f"vocabulary {manifest.get('tokenizer_vocab_size', '?')}"
    )


@app.command("build-base")
@_user_errors
def build_base(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Where to write the model. Default: serving/base_model (checked in)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the corpus, weights and data order.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Pretraining steps (default 200).")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a directory that holds something else.")
    ] = False,
) -> None:
    """Pretrain the base model on the generated domain corpus (tens of minutes on a CPU).

    Returns at once when DIRECTORY already holds a build with the same
    parameters, as the checked-in serving/base_model does for the defaults.
    """
    target = directory or BASE_MODEL_DIR

    def progress(step: int, loss: float) -> None:
        if step == 1 or step % 20 == 0:
            console.print(f"  step {step}: loss {loss:.3f}")

    from training.base_corpus import domain_documents

    console.print(f"pretraining the base model into {escape(str(target))} (if not built yet)…")
    build_base_model(
        target,
        seed=seed,
        steps=steps,
        overwrite=overwrite,
        documents=domain_documents,
        on_step=progress,
    )
    manifest = read_manifest(target) or {}
    loss = manifest.get("pretraining", {}).get("final_loss_mean_last_50", "?")
    console.print(
        f"base model in [bold]{escape(str(target))}[/]: "
        f"{manifest.get('parameters', 0):,} parameters, final loss {loss}"
    )


@app.command()
@_user_errors
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model directory or name. Default: FORGEYARD_SERVE_MODEL_PATH, else the "
            "pretrained base model (serving/base_model).",
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: serve_port).")] = None,
    host: Annotated[str | None, typer.Option(help="Interface (default: serve_host).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Served model name (default: model_name).")
    ] = None,
) -> None:
    """Start vLLM's OpenAI-compatible server and keep it running until Ctrl-C."""
    settings = get_settings()
    if model is None and settings.serve_model_path is None:
        model = str(_default_model(settings.tiny_model_dir))
    overrides: dict[str, Any] = {
        key: value
        for key, value in {"model": model, "port": port, "host": host, "name": name}.items()
        if value is not None
    }
    server = ModelServer.from_settings(settings, **overrides)
    # vLLM runs in its own process group; `kill PID` (SIGTERM) of this command
    # must stop it too, not orphan it, so SIGTERM takes the Ctrl-C path.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with console.status(
            f"starting vLLM for {escape(server.model)} (log: {escape(str(server.log_path))})…"
        ):
            server.start()
            server.wait_until_healthy()
        console.print(f"[green]serving[/] {escape(server.name)} at [bold]{server.base_url}[/]")
        # Tenants' active adapters, so a restarted server answers as before.
        from forgeyard.app.stack import load_active_adapters

        load_active_adapters(server.base_url)
        console.print("point Forgeyard at it with:")
        console.print(f"  export FORGEYARD_MODEL_BASE_URL={server.base_url}")
        if server.name != settings.model_name:
            console.print(f"  export FORGEYARD_MODEL_NAME={escape(server.name)}")
        console.print("[dim]Ctrl-C (or kill of this process) stops the server.[/]")
        _wait_while_running(server)
    except KeyboardInterrupt:
        console.print("stopping the server…")
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _default_model(tiny_dir: Path) -> Path:
    # The checked-in base model; a checkout without it falls back to the tiny one.
    from serving.base import checked_in_base_model

    try:
        return checked_in_base_model()
    except ServingError:
        return _ensure_tiny_model(tiny_dir)


def _ensure_tiny_model(directory: Path) -> Path:
    # Any tiny model already there is served as is (the user may have built it
    # with another seed); only a missing one is built.
    if read_manifest(directory) is None:
        with console.status(f"building the tiny model in {directory}…"):
            build_tiny_model(directory)
    return directory


def _wait_while_running(server: ModelServer) -> None:
    while server.running:
        time.sleep(1.0)
    raise ServingError(
        f"the vLLM server stopped unexpectedly; last lines of {server.log_path}:\n"
        f"{server.log_tail()}"
    )


if __name__ == "__main__":
    app()
