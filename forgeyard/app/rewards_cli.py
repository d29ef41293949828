"""``forgeyard rewards …``: validate, evaluate, label and train reward models."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from forgeyard.app.console import console, err_console

app = typer.Typer(
    help="Author, evaluate and approve reward models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
labels_app = typer.Typer(help="Human labels as JSONL.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")

F = TypeVar("F", bound=Callable[..., Any])
Tenant = Annotated[
    str | None,
    typer.Option(help="Tenant (default: a spec file's own `tenant`; for labels `default`)."),
]


def _user_errors(fn: F) -> F:
    """Errors a user can cause become one message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rewards.errors import RewardError

        try:
            return fn(*args, **kwargs)
        except (RewardError, ValueError, FileNotFoundError) as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _db() -> None:
    from forgeyard.db import upgrade

    upgrade()


def _version(spec: str, tenant: str | None) -> Any:
    """A stored version: a spec file (registered on the way) or an id / hash prefix."""
    from rewards.loader import load_reward_spec
    from rewards.store import get_version, register

    if Path(spec).exists():
        return register(load_reward_spec(spec), tenant_id=tenant)
    return get_version(spec, tenant_id=tenant)  # no --tenant: any tenant (operators)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Reward-model specs (YAML).")],
) -> None:
    """Check reward specs; report every problem with file, line and field."""
    from rewards.errors import RewardSpecError
    from rewards.loader import load_reward_spec
    from rewards.model import RewardModel

    failed = False
    for path in files:
        try:
            loaded = load_reward_spec(path)
            RewardModel(loaded)  # builds every grader: imports, schemas, regexes
        except RewardSpecError as exc:
            failed = True
            err_console.print(f"[red]✗[/] {escape(str(exc))}")
        else:
            spec = loaded.spec
            console.print(
                f"[green]✓[/] {path}: reward model `{spec.name}` v{spec.version} for "
                f"`{spec.workflow}`, {len(spec.graders)} grader(s), hash {loaded.hash[:12]}"
            )
    if failed:
        raise typer.Exit(2)


@app.command("eval")
@_user_errors
def eval_(
    spec: Annotated[str, typer.Argument(help="Spec file, or a stored version's id or hash.")],
    dataset: Annotated[
        Path | None, typer.Option(help="Labelled dataset (JSONL).", dir_okay=False)
    ] = None,
    runs: Annotated[
        str | None,
        typer.Option(help="Recorded runs: `workflow=…,status=succeeded,since=…,limit=…`."),
    ] = None,
    tasks: Annotated[
        Path | None,
        typer.Option(help="With --runs: JSONL of {input, expected} giving runs ground truth."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for report.json and report.html.")
    ] = None,
    tenant: Tenant = None,
) -> None:
    """Evaluate a reward model: scores, agreement with labels, hack probes, approval."""
    from rewards.report import render_html
    from rewards.store import create_evaluation, get_version, run_evaluation

    _db()
    version = _version(spec, tenant)
    evaluation = create_evaluation(
        version.id, dataset=dataset, runs=runs, tasks=tasks, tenant_id=version.tenant_id
    )
    with console.status("evaluating") as status:
        record = run_evaluation(
            evaluation.id,
            progress=lambda f, m: status.update(f"evaluating: {m} ({f:.0%})"),
        )
    report = record.report or {}
    _print_summary(report)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "report.html").write_text(render_html(report))
        console.print(f"report: {out / 'report.json'}, {out / 'report.html'}")
    state = get_version(version.id).status.value
    console.print(f"version {version.hash[:12]} (id {version.id}) is now [bold]{state}[/]")
    if not report.get("gate", {}).get("passed"):
        # Non-zero so a pipeline can gate on the evaluation.
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_summary(report: dict[str, Any]) -> None:
    ds, sc, ag = report["dataset"], report["scores"], report["agreement"]
    for p in ds["problems"]:
        err_console.print(f"[yellow]skipped[/] {escape(ds['source'])}:{p['line']}: {p['message']}")
    console.print(
        f"{ds['examples']} examples, {ds['preferences']} preference pairs; reward mean "
        f"{_fmt(sc['total']['mean'])}, {sc['grader_errors']} grader error(s)"
    )
    lacking = sc.get("inapplicable", {})  # absent from reports stored before it existed
    for name, g in sc["graders"].items():
        console.print(
            f"  {name:<24} mean {_fmt(g['mean'])}  n/a {g['none']}  errors {g['errors']}"
            f"  lacking data {lacking.get('graders', {}).get(name, 0)}"
        )
    for name, fired in sc["penalties"].items():
        console.print(
            f"  penalty {name:<16} fired {fired}"
            f"  lacking data {lacking.get('penalties', {}).get(name, 0)}"
        )
    console.print(
        f"agreement: ρ {_fmt(ag['spearman'])}  τ {_fmt(ag['kendall'])}  "
        f"κ {_fmt(ag['cohen_kappa'])}  pairwise {_fmt(ag['pairwise_accuracy'])} "
        f"({ag['labelled']} labelled, {ag['pairs']} pairs)"
    )
    hp, zv = report["hack_probes"], report["zero_variance"]
    console.print(
        f"hack probes: pass rate {_fmt(hp['pass_rate'])}; zero-variance groups "
        f"{_fmt(zv['share'])} ({zv['method']})"
    )
    for c in report["gate"]["checks"]:
        mark = "[green]✓[/]" if c["passed"] else "[red]✗[/]"
        # Reports stored before thresholds had defaults carry no source.
        source = c.get("source", "spec")
        console.print(
            f"  {mark} {c['check']} {c['op']} {c['threshold']} ({source}): {_fmt(c['value'])}"
        )


@app.command("show")
@_user_errors
def show(
    spec: Annotated[
        str | None, typer.Argument(help="Spec file or stored id / hash; none lists versions.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write the latest evaluation's HTML report here.")
    ] = None,
    tenant: Tenant = None,
) -> None:
    """List stored versions, or show one with its latest evaluation."""
    from rewards.report import render_html
    from rewards.store import get_evaluation, list_versions

    _db()
    if spec is None:
        for v in list_versions(tenant_id=tenant):  # no --tenant: every tenant's
            console.print(
                f"{v.id}  {v.name} v{v.version}  {v.hash[:12]}  {v.workflow}  {v.status.value}"
            )
        return
    version = _version(spec, tenant)
    console.print(
        f"{version.name} v{version.version} for `{version.workflow}` (tenant {version.tenant_id})"
        f"\nid {version.id}\nhash {version.hash}\nstatus {version.status.value}"
    )
    if version.latest_evaluation_id is None:
        console.print("not evaluated yet")
        return
    evaluation = get_evaluation(version.latest_evaluation_id)
    console.print(f"latest evaluation {evaluation.id}: {evaluation.status.value}")
    if evaluation.report:
        _print_summary(evaluation.report)
        if html is not None:
            html.write_text(render_html(evaluation.report))
            console.print(f"report: {html}")


@app.command("label")
@_user_errors
def label(
    answer: Annotated[str, typer.Argument(help="Run id (or example id with --example).")],
    by: Annotated[str, typer.Option(help="Who is labelling.")],
    score: Annotated[float | None, typer.Option(help="Score in [0, 1].")] = None,
    over: Annotated[
        str | None, typer.Option(help="Prefer ANSWER over this one (same task).")
    ] = None,
    example: Annotated[bool, typer.Option(help="ANSWER is a dataset example id.")] = False,
    workflow: Annotated[str | None, typer.Option(help="Workflow of example labels.")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    tenant: Tenant = None,
) -> None:
    """Label a run: a score, or a preference for it over another run of the same task."""
    from rewards.labels import add_preference, add_score

    if (score is None) == (over is None):
        raise ValueError("give exactly one of --score or --over")
    _db()
    if score is not None:
        ids = {"example_id": answer} if example else {"run_id": answer}
        add_score(score=score, by=by, tenant_id=tenant or "default", workflow=workflow,
                  note=note, **ids)  # fmt: skip
        console.print(f"labelled {answer}: {score:g} (by {by})")
    else:
        assert over is not None
        add_preference(chosen=answer, rejected=over, by=by, runs=not example,
                       tenant_id=tenant or "default", workflow=workflow, note=note)  # fmt: skip
        console.print(f"labelled {answer} preferred over {over} (by {by})")


@labels_app.command("export")
@_user_errors
def labels_export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write.", dir_okay=False)],
    workflow: Annotated[str | None, typer.Option()] = None,
    tenant: Tenant = None,
) -> None:
    """Write the tenant's labels as JSONL."""
    from rewards.labels import export_labels

    _db()
    count = export_labels(file, tenant_id=tenant or "default", workflow=workflow)
    console.print(f"exported {count} labels")


@labels_app.command("import")
@_user_errors
def labels_import(
    file: Annotated[Path, typer.Argument(help="JSONL file to read.", dir_okay=False)],
    tenant: Tenant = None,
) -> None:
    """Read labels from JSONL; bad lines are reported with their number and skipped."""
    from rewards.labels import import_labels

    _db()
    result = import_labels(file, tenant_id=tenant or "default")
    for p in result.problems:
        err_console.print(f"[yellow]skipped[/] {escape(str(p))}")
    console.print(
        f"imported {result.imported} labels, {result.duplicates} already present, "
        f"skipped {len(result.problems)} line(s)"
    )
    if result.problems and not (result.imported or result.duplicates):
        raise typer.Exit(2)


@app.command("train-rm")
@_user_errors
def train_rm(
    pairs: Annotated[
        Path,
        typer.Argument(
            help="Preference pairs (JSONL: prompt, chosen, rejected; "
            "or a labelled dataset with preference lines)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Directory for the trained reward model.")],
    base: Annotated[
        Path | None, typer.Option(help="Base model directory (default: the tiny model).")
    ] = None,
    steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = 50,
    learning_rate: Annotated[float, typer.Option()] = 5e-4,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a `learned` grader's model with TRL's RewardTrainer on preference pairs."""
    from forgeyard.settings import get_settings
    from rewards.learned import train_reward_model
    from serving.tiny import build_tiny_model

    if base is None:
        base = build_tiny_model(get_settings().tiny_model_dir)
    result = train_reward_model(
        pairs, out, base=base, max_steps=steps, learning_rate=learning_rate, seed=seed
    )
    console.print(
        f"trained on {result['pairs']} pairs for {result['steps']} steps; "
        f"pair accuracy on the training pairs {_fmt(result['accuracy'])}; model in {out}"
    )
