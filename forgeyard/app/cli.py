"""The `forgeyard` command line."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from forgeyard.settings import apply_offline_environment

# Before anything imports transformers, vLLM or LangChain.
apply_offline_environment()

import typer  # noqa: E402
from rich.prompt import Confirm  # noqa: E402

from forgeyard.app import replay_cli  # noqa: E402
from forgeyard.app.adapters_cli import app as adapters_app  # noqa: E402
from forgeyard.app.console import console, err_console  # noqa: E402
from forgeyard.app.model_cli import app as model_app  # noqa: E402
from forgeyard.app.rewards_cli import app as rewards_app  # noqa: E402
from forgeyard.app.training_cli import app as train_app  # noqa: E402

app = typer.Typer(
    help="Forgeyard: agentic workflows on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


# The long-running services log at FORGEYARD_LOG_LEVEL; one-shot commands only
# warnings, so their console output stays what they print.
_SERVICE_COMMANDS = {"api", "worker", "beat"}


@app.callback()
def _logging(ctx: typer.Context) -> None:
    from pydantic import ValidationError

    from forgeyard.settings import get_settings
    from forgeyard.telemetry.logs import configure_logging
    from forgeyard.telemetry.traces import configure_tracing

    try:
        settings = get_settings()
    except ValidationError:
        return  # the command reports the bad setting itself (`config show` lists them)
    level = settings.log_level if ctx.invoked_subcommand in _SERVICE_COMMANDS else "WARNING"
    configure_logging(settings.log_format, level)
    if ctx.invoked_subcommand not in _SERVICE_COMMANDS:  # those configure their own processes
        configure_tracing(settings, "forgeyard-cli")


workflows_app = typer.Typer(help="Inspect and validate workflow specs.", no_args_is_help=True)
runs_app = typer.Typer(
    help="List, inspect, resume, approve, replay and fork runs.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants of this installation.", no_args_is_help=True)
keys_app = typer.Typer(help="Per-tenant API keys.", no_args_is_help=True)
config_app = typer.Typer(help="This installation's settings.", no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
app.add_typer(rewards_app, name="rewards")
app.add_typer(train_app, name="train")
app.add_typer(adapters_app, name="adapters")

F = TypeVar("F", bound=Callable[..., Any])


def _user_errors(fn: F) -> F:
    """Turn the errors a user can cause into a message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agents.runner import RunError
        from forgeyard.app.backup import BackupError
        from forgeyard.app.stack import StackError
        from forgeyard.db import SchemaNotReady
        from forgeyard.tenants import TenantError
        from serving import ServingError
        from workflows.catalog import UnknownWorkflowError
        from workflows.loader import SpecError

        user_errors = (
            SpecError,
            UnknownWorkflowError,
            RunError,
            ServingError,
            TenantError,
            StackError,
            SchemaNotReady,
            BackupError,
            FileNotFoundError,
            ValueError,
            TimeoutError,
        )
        try:
            return fn(*args, **kwargs)
        except user_errors as exc:
            err_console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileNotFoundError(f"cannot read input file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def _parse_config(pairs: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--config expects KEY=VALUE, got `{pair}`")
        try:
            config[key] = json.loads(raw)
        except json.JSONDecodeError:
            config[key] = raw
    return config


# -- db ---------------------------------------------------------------------
@db_app.command("upgrade")
@_user_errors
def db_upgrade(
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print the SQL of this upgrade (from the database's current revision) "
            "instead of running it; PostgreSQL only.",
        ),
    ] = False,
) -> None:
    """Create or migrate the database schema to the newest version."""
    from forgeyard.db import upgrade, upgrade_sql
    from forgeyard.settings import get_settings

    url = get_settings().resolved_database_url
    with _database_errors(url):
        if sql:
            script = upgrade_sql()
            if not script:
                err_console.print(f"nothing to do: {_safe_url(url)} is at the newest schema")
            sys.stdout.write(script)
            return
        upgrade()
    console.print(f"database at newest schema: {_safe_url(url)}")


@db_app.command("current")
@_user_errors
def db_current() -> None:
    """Show the database's schema revision and whether migrations are pending."""
    from forgeyard.db import current_revision, history
    from forgeyard.settings import get_settings

    url = get_settings().resolved_database_url
    with _database_errors(url):
        current = current_revision()
    revisions = [r.id for r in history()]  # newest first
    if current is None:
        pending = len(revisions)
        console.print(f"{_safe_url(url)}: no schema yet ({pending} migrations to apply)")
    elif current not in revisions:
        console.print(f"{_safe_url(url)}: at {current}, which this release does not know")
        raise typer.Exit(1)
    else:
        pending = revisions.index(current)
        state = "head" if pending == 0 else f"{pending} migration(s) to apply"
        console.print(f"{_safe_url(url)}: at {current} ({state})")
    if pending:
        console.print("apply them with `forgeyard db upgrade` (`--sql` to review first)")


@db_app.command("history")
@_user_errors
def db_history() -> None:
    """List the schema migrations, newest first, marking those this database has."""
    from sqlalchemy.exc import SQLAlchemyError

    from forgeyard.db import current_revision, history

    revisions = history()  # newest first
    reachable = True
    try:
        current = current_revision()
    except SQLAlchemyError as exc:
        # The list is still worth showing without a database, but not as "pending".
        reachable, current = False, None
        err_console.print(f"[yellow]database not reachable[/] ({type(exc).__name__})")
    ids = [r.id for r in revisions]
    applied = set(ids[ids.index(current) :]) if current in ids else set()
    for revision in revisions:
        marks = [
            m for m, on in (("head", revision.is_head), ("current", revision.id == current)) if on
        ]
        state = ("applied" if revision.id in applied else "pending") if reachable else "?"
        extra = f" [bold]({', '.join(marks)})[/]" if marks else ""
        console.print(f"{revision.id} {state:>7}  {revision.message}{extra}")


@contextlib.contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached is a user error, with its URL (no password)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        first = str(exc.orig if hasattr(exc, "orig") and exc.orig else exc).splitlines()[0]
        raise ValueError(f"cannot use the database {_safe_url(url)}: {first}") from None


def _schema_for_serving() -> None:
    """Before an API or worker serves: migrate (locked), or wait for a release step to."""
    from forgeyard.db import upgrade, wait_for_schema
    from forgeyard.settings import get_settings

    if get_settings().migrate_on_start:
        upgrade()
    else:
        wait_for_schema()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- backup and restore ---------------------------------------------------------
@app.command("backup")
@_user_errors
def backup_command(
    archive: Annotated[Path, typer.Argument(help="File to write: .tar, or .tar.gz to compress.")],
) -> None:
    """Back up the database and the data directory (models, adapters, reports) to one tar."""
    from forgeyard.app.backup import backup
    from forgeyard.settings import get_settings

    url = get_settings().resolved_database_url
    with _database_errors(url), console.status("backing up…"):
        summary = backup(archive)
    console.print(
        f"backed up {_safe_url(url)} ({summary.database}, schema {summary.revision}) and "
        f"{summary.files} data files ({summary.data_bytes / 1e6:.1f} MB) to {summary.archive} "
        f"({summary.archive.stat().st_size / 1e6:.1f} MB)"
    )


@app.command("restore")
@_user_errors
def restore_command(
    archive: Annotated[Path, typer.Argument(help="A file written by `forgeyard backup`.")],
    force: Annotated[
        bool, typer.Option(help="Replace a database that already has a schema.")
    ] = False,
) -> None:
    """Restore the database and the data directory from a backup (stop the site first)."""
    from forgeyard.app.backup import restore
    from forgeyard.settings import get_settings

    url = get_settings().resolved_database_url
    with _database_errors(url), console.status("restoring…"):
        summary = restore(archive, force=force)
    console.print(
        f"restored {_safe_url(url)} (schema {summary.revision}, now at the newest) and "
        f"{summary.files} data files into {get_settings().data_dir}"
    )


# -- config -------------------------------------------------------------------
@config_app.command("show")
@_user_errors
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Every setting, its value and where it came from (default, environment, .env).

    Secrets (names with secret, key, password or token) and the passwords in
    URLs are masked.
    """
    from dataclasses import asdict

    from rich.table import Table

    from forgeyard.settings import describe_settings, get_settings

    described = describe_settings(get_settings())
    if as_json:
        sys.stdout.write(json.dumps([asdict(d) for d in described], indent=2) + "\n")
        return
    table = Table(box=None, pad_edge=False)
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", no_wrap=True)
    for d in described:
        style = "" if d.source == "default" else "bold"
        table.add_row(d.variable, d.value or "[dim]unset[/]", d.source, style=style)
    console.print(table)


# -- workflows ----------------------------------------------------------------
@workflows_app.command("list")
def workflows_list() -> None:
    """List the workflows found (configured directories, then the examples)."""
    from workflows.catalog import list_workflows

    for name, path in list_workflows().items():
        console.print(f"{name}  [dim]{path}[/]")


@workflows_app.command("schema")
def workflows_schema() -> None:
    """Print the JSON Schema of workflow specs."""
    from workflows.schema import spec_json_schema

    sys.stdout.write(json.dumps(spec_json_schema(), indent=2) + "\n")


@workflows_app.command("validate")
def workflows_validate(
    files: Annotated[list[Path], typer.Argument(help="Spec files (YAML).")],
) -> None:
    """Check specs; report every problem with file, line and field."""
    from workflows.loader import SpecError, load_spec

    failed = False
    for path in files:
        try:
            loaded = load_spec(path)
        except SpecError as exc:
            failed = True
            err_console.print(f"[red]✗[/] {exc}")
        else:
            console.print(
                f"[green]✓[/] {path}: workflow `{loaded.spec.name}` v{loaded.spec.version}, "
                f"{len(loaded.spec.nodes)} nodes, hash {loaded.hash[:12]}"
            )
            for warning in loaded.warnings:
                err_console.print(f"  [yellow]warning:[/] {warning}", highlight=False)
    if failed:
        raise typer.Exit(1)


@workflows_app.command("test")
def workflows_test(
    file: Annotated[Path, typer.Argument(help="Spec file (YAML); its cases beside it.")],
    cases_file: Annotated[
        Path | None,
        typer.Option("--cases", help="Cases file; default: <spec stem>.cases.yaml beside it."),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--case", "-k", help="Run only this case (repeatable).")
    ] = None,
) -> None:
    """Run a spec's cases with canned model answers: no model server, a throw-away database."""
    import tempfile

    from workflows.cases import CasesError, cases_path, load_cases
    from workflows.loader import SpecError, load_spec

    try:
        loaded = load_spec(file)
        cases = load_cases(cases_file or cases_path(file), loaded.spec)
    except (SpecError, CasesError) as exc:
        err_console.print(f"[red]✗[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if only:
        unknown = sorted(set(only) - {c.name for c in cases})
        if unknown:
            err_console.print(f"[red]✗[/] no case named {', '.join(unknown)}")
            raise typer.Exit(1)
        cases = [c for c in cases if c.name in only]
    with tempfile.TemporaryDirectory(prefix="forgeyard-cases-") as tmp:
        failed = _run_cases(loaded, cases, Path(tmp))
    console.print(f"{len(cases) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def _run_cases(loaded: Any, cases: list[Any], tmp: Path) -> int:
    from agents.cases import run_case
    from forgeyard import db
    from forgeyard.settings import get_settings

    # A throw-away database and data directory: the cases' effects (bookings,
    # filings) never reach the operator's.  This command owns its process, so
    # it points the settings there rather than threading a URL through.
    url = f"sqlite:///{tmp / 'cases.db'}"
    os.environ["DATABASE_URL"] = url
    os.environ["FORGEYARD_DATA_DIR"] = str(tmp)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade(url)
    failed = 0
    try:
        for case in cases:
            result = run_case(loaded, case)
            if result.passed:
                console.print(f"[green]✓[/] {case.name}: ended at `{result.end}`", highlight=False)
                continue
            failed += 1
            err_console.print(f"[red]✗[/] case `{case.name}`:", highlight=False)
            for failure in result.failures:
                err_console.print(f"    {failure}", highlight=False)
    finally:
        db.get_engine().dispose()
        db.get_engine.cache_clear()
        get_settings.cache_clear()
    return failed


# -- run ----------------------------------------------------------------------
@app.command("run")
@_user_errors
def run(
    workflow: Annotated[str, typer.Argument(help="Workflow name or path of its YAML spec.")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="JSON file with the input.")],
    approve: Annotated[
        bool | None,
        typer.Option("--approve/--reject", help="Answer approvals without asking."),
    ] = None,
    config: Annotated[
        list[str] | None, typer.Option("--config", "-c", help="Override a config value: KEY=VALUE.")
    ] = None,
    by: Annotated[str, typer.Option(help="Name recorded as the approver.")] = "cli",
) -> None:
    """Run one workflow in this process, showing each step as it happens."""
    from agents.runner import start_run
    from forgeyard.db import upgrade
    from workflows.catalog import resolve

    loaded = resolve(workflow)
    run_input = _read_json(input_file)
    upgrade()
    record = start_run(loaded, run_input, config=_parse_config(config or []))
    console.print(f"run [bold]{record.id}[/] of `{loaded.spec.name}` v{loaded.spec.version}")
    _drive(record.id, approve=approve, by=by)


def _drive(run_id: str, *, approve: bool | None, by: str, model: Any = None) -> Any:
    """Execute a run to its end, asking (or answering) approvals on the way."""
    from agents.runner import decide, execute_run
    from forgeyard.app.console import print_run, step_line
    from forgeyard.models import RunStatus
    from training.adapters import REGISTRY

    def on_step(step: Any) -> None:
        console.print("  " + step_line(step))

    with console.status("running…"):
        result = execute_run(run_id, model=model, adapter_source=REGISTRY, on_step=on_step)
    while result.status == RunStatus.waiting_approval:
        message = (result.pending_approval or {}).get("message", "approve?")
        console.print(f"[yellow]approval needed:[/] {message}")
        decision = approve
        if decision is None:
            if not sys.stdin.isatty():
                console.print(
                    f"waiting; decide with `forgeyard runs approve {run_id}` (or `--reject`)"
                )
                raise typer.Exit(0)
            decision = Confirm.ask("approve?")
        with console.status("running…"):
            result = decide(
                run_id,
                approved=decision,
                by=by,
                model=model,
                adapter_source=REGISTRY,
                on_step=on_step,
            )
    print_run(result)
    if result.status == RunStatus.failed:
        raise typer.Exit(1)
    return result


@app.command("demo")
@_user_errors
def demo() -> None:
    """The main job: book a container through the HTTP API, a worker and a local model."""
    from agents.runner import get_run
    from agents.trace import load_trace
    from forgeyard.app.console import print_run, print_trace
    from forgeyard.app.demo import book_over_http, bookings_of, demo_key
    from forgeyard.app.stack import Stack
    from forgeyard.db import upgrade

    upgrade()
    token = demo_key()
    with Stack(workers=1).running() as stack:
        final = book_over_http(stack.api_url, token)
    record = get_run(final["id"])
    print_run(record)
    print_trace(load_trace(record.id))
    references = bookings_of(record.id)
    console.print(f"bookings recorded for this run: {len(references)} {references}")
    console.print(f"inspect it again with: forgeyard runs show {record.id} --full")
    if record.status != "succeeded" or len(references) != 1:
        raise typer.Exit(1)


@app.command("up")
@_user_errors
def up(
    workers: Annotated[
        int,
        typer.Option(
            help="Run worker processes (each runs FORGEYARD_WORKER_CONCURRENCY runs at once)."
        ),
    ] = 1,
) -> None:
    """Start a site on this machine: model server, Redis if needed, the API and workers."""
    from forgeyard.app.stack import Stack
    from forgeyard.db import upgrade

    upgrade()
    # The pieces run in their own process groups: `kill` of this command must
    # stop them too, so SIGTERM takes the Ctrl-C path.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with Stack(workers=workers, echo_logs=True).running() as stack:
            console.print(
                f"[bold green]Forgeyard is up[/]: API {stack.api_url}, model "
                f"{stack.model_base_url}; create a key with `forgeyard tenants create NAME` "
                "and `forgeyard keys create NAME`. Ctrl-C stops everything."
            )
            stack.wait()
    except KeyboardInterrupt:
        console.print("stopped")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# -- runs -----------------------------------------------------------------------
@runs_app.command("list")
@_user_errors
def runs_list(
    status: Annotated[
        list[str] | None, typer.Option(help="queued, running, waiting_approval, succeeded, …")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Runs of this workflow.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Created since: an age (30m, 2h, 3d, 1w) or ISO date/time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created before: an age or ISO time.")] = None,
    key: Annotated[str | None, typer.Option(help="Submitted with this Idempotency-Key.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="input.PATH=VALUE or output.PATH=VALUE, e.g. output.carrier=MDOU."),
    ] = None,
    reached: Annotated[str | None, typer.Option(help="A step of this node was recorded.")] = None,
    adapter: Annotated[str | None, typer.Option(help="A step was answered by it.")] = None,
    model: Annotated[str | None, typer.Option(help="A step was answered by it.")] = None,
    node: Annotated[str | None, typer.Option(help="With --adapter/--model: at it.")] = None,
    tenant: Annotated[str | None, typer.Option(help="One tenant's runs (default: all).")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first (1-200).")] = 20,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the page as JSON.")] = False,
) -> None:
    """Find runs: every filter given must hold; full run ids, newest first."""
    from agents.search import RunQuery, search_runs
    from forgeyard.app.console import print_runs
    from forgeyard.app.moments import parse_moment

    query = RunQuery.of(
        status=status or (),
        where=where or (),
        workflow=workflow,
        created_after=parse_moment(since, "--since") if since else None,
        created_before=parse_moment(until, "--until") if until else None,
        idempotency_key=key,
        reached=reached,
        adapter=adapter,
        model=model,
        node=node,
    )
    page = search_runs(tenant, query, cursor=cursor, limit=limit)
    if as_json:
        payload = {
            "items": [r.model_dump(mode="json") for r in page.runs],
            "next_cursor": page.next_cursor,
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    print_runs(page.runs)
    if page.next_cursor:
        console.print(f"[dim]more: add --cursor {page.next_cursor}[/]")


@runs_app.command("show")
@_user_errors
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, or any unique start of one.")],
    full: Annotated[bool, typer.Option(help="Show prompts, completions and inputs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print run and trace as JSON.")] = False,
) -> None:
    """Print a run and its recorded trace."""
    from agents.search import resolve_run
    from agents.trace import load_trace
    from forgeyard.app.console import print_run, print_trace

    record = resolve_run(run_id)
    steps = load_trace(record.id)
    if as_json:
        payload = {
            "run": record.model_dump(mode="json"),
            "steps": [s.model_dump(mode="json") for s in steps],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    print_run(record)
    print_trace(steps, full=full)


@runs_app.command("diff")
@_user_errors
def runs_diff(
    run_a: Annotated[str, typer.Argument(help="A run id, or any unique start of one.")],
    run_b: Annotated[str, typer.Argument(help="The run to compare it with.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """Compare two runs: steps aligned by node and visit, the first divergence, the outputs."""
    from agents.diff import diff_runs
    from agents.search import resolve_run
    from forgeyard.app.console import print_diff

    result = diff_runs(resolve_run(run_a).id, resolve_run(run_b).id)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
        return
    print_diff(result)


@runs_app.command("resume")
@_user_errors
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="A run id, or any unique start of one.")],
    approve: Annotated[bool | None, typer.Option("--approve/--reject")] = None,
    by: str = "cli",
) -> None:
    """Continue a run that stopped (its process died) from its last checkpoint."""
    from agents.search import resolve_run

    _drive(resolve_run(run_id).id, approve=approve, by=by)


@runs_app.command("approve")
@_user_errors
def runs_approve(
    run_id: Annotated[str, typer.Argument(help="A run id, or any unique start of one.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    by: Annotated[str, typer.Option(help="Who decides.")] = "cli",
    comment: Annotated[str | None, typer.Option(help="Recorded with the decision.")] = None,
) -> None:
    """Approve (or reject) a run that waits for a decision, and carry it on."""
    from agents.runner import decide
    from agents.search import resolve_run
    from forgeyard.app.console import print_run, step_line
    from forgeyard.models import RunStatus
    from training.adapters import REGISTRY

    result = decide(
        resolve_run(run_id).id,
        approved=not reject,
        by=by,
        comment=comment,
        adapter_source=REGISTRY,
        on_step=lambda s: console.print("  " + step_line(s)),
    )
    print_run(result)
    if result.status == RunStatus.failed:
        raise typer.Exit(1)


replay_cli.register(runs_app, _user_errors, _drive)


# -- tenants and keys -------------------------------------------------------------
@tenants_app.command("create")
@_user_errors
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="Short id: lower-case letters, digits, -, _.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a tenant."""
    from forgeyard.db import upgrade
    from forgeyard.tenants import create_tenant

    upgrade()
    tenant = create_tenant(tenant_id, name)
    console.print(
        f"tenant [bold]{tenant.id}[/] created; give it a key with "
        f"`forgeyard keys create {tenant.id}`"
    )


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from forgeyard.db import upgrade
    from forgeyard.tenants import list_tenants

    upgrade()
    for tenant in list_tenants():
        console.print(f"{tenant.id}  [dim]{tenant.name}  {tenant.created_at:%Y-%m-%d}[/]")


@keys_app.command("create")
@_user_errors
def keys_create(
    tenant_id: Annotated[str, typer.Argument(help="Tenant the key belongs to.")],
    name: Annotated[
        str,
        typer.Option(
            help="Who uses the key (e.g. ops@acme); recorded as the approver of what it approves."
        ),
    ] = "",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="What the key may do (repeatable): runs:read, runs:submit, runs:approve, "
            "labels:write, admin (everything). Default: admin.",
        ),
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(help="Expiry from now, e.g. 90d, 12h, 30m. Default: never."),
    ] = None,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from forgeyard.db import upgrade
    from forgeyard.models import utcnow
    from forgeyard.tenants import ADMIN, create_key

    upgrade()
    expires_at = utcnow() + _duration(expires_in, "--expires-in") if expires_in else None
    key = create_key(tenant_id, name, scopes=scope or [ADMIN], expires_at=expires_at)
    until = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
    err_console.print(
        f"key [bold]{key.id}[/] for tenant `{key.tenant_id}`, scopes {', '.join(key.scopes)}"
        f"{until} (shown once; send it as `Authorization: Bearer <key>`):"
    )
    sys.stdout.write(key.token + "\n")


def _duration(text: str, option: str) -> timedelta:
    """``90d`` / ``12h`` / ``30m`` / ``45s`` as a timedelta; exit 2 naming ``option`` otherwise."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        err_console.print(
            f"[red]error:[/] {option}: `{text}` is not a duration; use e.g. 90d, 12h, 30m or 45s"
        )
        raise typer.Exit(2)
    return timedelta(**{units[unit]: int(number)})


@keys_app.command("revoke")
@_user_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id (see `keys list`).")]) -> None:
    """Revoke an API key; requests with it get 401 from now on."""
    from forgeyard.tenants import revoke_key

    key = revoke_key(key_id)
    console.print(f"key {key.id} of tenant `{key.tenant_id}` revoked")


@keys_app.command("list")
def keys_list(tenant_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """List API keys (ids, names, scopes, state; the secrets are not stored)."""
    from forgeyard.db import upgrade
    from forgeyard.tenants import list_keys

    upgrade()
    for key in list_keys(tenant_id):
        if key.revoked_at:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        elif key.expires_at:
            state = f"expires {key.expires_at:%Y-%m-%d %H:%M}"
        else:
            state = "active"
        scopes = ",".join(key.scopes or [])
        console.print(f"{key.id}  {key.tenant_id}  [dim]{key.name or '-'}  {scopes}  {state}[/]")


# -- service --------------------------------------------------------------------
@app.command("api")
@_user_errors
def api(
    host: Annotated[str | None, typer.Option(help="Default: FORGEYARD_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: FORGEYARD_API_PORT.")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn); migrates the database first (or waits for it)."""
    import uvicorn

    from forgeyard.settings import get_settings

    settings = get_settings()
    _schema_for_serving()
    host, port = host or settings.api_host, port or settings.api_port
    console.print(
        f"API on http://{host}:{port} (docs at /docs), database "
        f"{_safe_url(settings.resolved_database_url)}, broker "
        f"{_safe_url(settings.broker_url)}"
    )
    # log_config=None: uvicorn's loggers go to the root handler (text or JSON), not its own.
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        log_level=settings.log_level.lower(),
    )


@app.command("worker")
@_user_errors
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Tasks executed at once. Default: FORGEYARD_WORKER_CONCURRENCY (32) for "
            "runs; 1 for training."
        ),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            help="Celery pool: threads, prefork, solo. Default: FORGEYARD_WORKER_POOL "
            "(threads) for runs; prefork for training."
        ),
    ] = None,
    beat: Annotated[
        bool,
        typer.Option(
            "--beat/--no-beat",
            help="Also run the sweeper schedule. Exactly one process per site may: "
            "prefer `forgeyard beat` on its own.",
        ),
    ] = False,
    loglevel: str = "INFO",
    queues: Annotated[
        str,
        typer.Option(
            help="Comma-separated queues to serve: `runs` (runs, evaluations, webhooks), "
            "`training` (GRPO jobs; give them their own worker), or literal queue names."
        ),
    ] = "runs",
) -> None:
    """Run a Celery worker for runs (and, with --beat, the periodic sweeper)."""
    from forgeyard.settings import get_settings
    from worker.app import app as celery_app

    settings = get_settings()
    aliases = {"runs": settings.queue, "training": settings.training_queue}
    names = [aliases.get(q.strip(), q.strip()) for q in queues.split(",") if q.strip()]
    if not names:
        err_console.print("[red]error:[/] --queues: name at least one queue (runs, training)")
        raise typer.Exit(2)
    if settings.training_queue in names:
        # A GRPO job holds a whole process (and its accelerator) for hours: one at a
        # time in a process of its own, never beside runs waiting on the model.
        pool, concurrency = pool or "prefork", concurrency or 1
    else:
        # Runs mostly wait on the model server, which batches concurrent requests:
        # many in one process, as threads.
        pool, concurrency = pool or settings.worker_pool, concurrency or settings.worker_concurrency
    _schema_for_serving()
    console.print(
        f"worker ({pool} pool, {concurrency} at once) on queue(s) "
        f"{', '.join(f'`{n}`' for n in names)} of "
        f"{_safe_url(settings.broker_url)}, database "
        f"{_safe_url(settings.resolved_database_url)}, sweeper {'on' if beat else 'off'}"
    )
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={','.join(names)}",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.data_dir / 'celerybeat-schedule'}"]
    celery_app.worker_main(argv)


@app.command("beat")
def beat(loglevel: str = "INFO") -> None:
    """Run the site's one sweeper schedule (Celery beat); run workers execute the sweeps.

    Start exactly one per site: each beat sends a sweep every
    FORGEYARD_SWEEP_INTERVAL_SECONDS to the runs queue, where any run worker
    picks it up (an unconsumed sweep expires after one interval).
    """
    from forgeyard.settings import get_settings
    from worker.app import app as celery_app

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"sweeper: a sweep every {settings.sweep_interval_seconds:g} s to queue "
        f"`{settings.queue}` of {_safe_url(settings.broker_url)}"
    )
    celery_app.start(
        [
            "beat",
            f"--loglevel={loglevel}",
            f"--schedule={settings.data_dir / 'celerybeat-schedule'}",
        ]
    )


def main() -> None:
    app()
