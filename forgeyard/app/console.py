"""How runs and traces look in a terminal (rich)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from forgeyard.models import Run, RunStatus, Step, StepStatus

if TYPE_CHECKING:
    from agents.diff import Change, RunDiff

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_STATUS_STYLE = {
    RunStatus.succeeded: "green",
    RunStatus.failed: "red",
    RunStatus.waiting_approval: "yellow",
    RunStatus.running: "cyan",
    RunStatus.queued: "dim",
    RunStatus.cancelled: "dim",
}
_STEP_STYLE = {
    StepStatus.ok: "green",
    StepStatus.error: "red",
    StepStatus.interrupted: "yellow",
    StepStatus.abandoned: "magenta",
}


def short(value: Any, width: int = 90) -> str:
    """One line of JSON, cut to ``width``."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def step_line(step: Step) -> str:
    """A one-line, live progress description of a recorded step."""
    style = _STEP_STYLE.get(step.status, "")
    latency = f" {step.latency_ms:.0f} ms" if step.latency_ms else ""
    attempt = f" (try {step.attempt})" if step.attempt > 1 else ""
    failed = step.status in (StepStatus.error, StepStatus.abandoned)
    detail = step.error if failed else short(step.output or "", 70)
    return (
        f"[{style}]{'✓' if step.status == StepStatus.ok else '•'}[/] "
        f"[bold]{step.node}[/] [dim]{step.kind}{attempt}{latency}[/] {detail}"
    )


def run_status(run: Run) -> str:
    style = _STATUS_STYLE.get(run.status, "")
    return f"[{style}]{run.status.value}[/]"


def print_run(run: Run) -> None:
    console.print(
        f"run [bold]{run.id}[/]  {run.workflow} v{run.workflow_version}  {run_status(run)}"
    )
    console.print(f"  spec {run.spec_hash[:16]}…  created {run.created_at:%Y-%m-%d %H:%M:%S}")
    if run.pending_approval:
        console.print(f"  [yellow]waiting for approval:[/] {run.pending_approval.get('message')}")
    if run.output is not None:
        console.print(
            "  output: " + json.dumps(run.output, indent=2, default=str).replace("\n", "\n  ")
        )
    if run.error:
        console.print(f"  [red]error:[/] {run.error}")


def print_trace(steps: list[Step], *, full: bool = False) -> None:
    """The recorded trace, one step a line (with prompts and completions if ``full``)."""
    console.print(f"[bold]trace[/] ({len(steps)} steps)")
    for s in steps:
        model = f" {s.adapter or s.model}" if s.kind == "llm" and (s.adapter or s.model) else ""
        latency = f" {s.latency_ms:.0f} ms" if s.latency_ms else ""
        style = _STEP_STYLE.get(s.status, "")
        detail = s.error if s.error else short(s.output if s.output is not None else "", 110)
        console.print(
            f"{s.seq:>3} [bold]{s.node}[/] [dim]{s.kind} try {s.attempt}{model}{latency}[/] "
            f"[{style}]{s.status.value}[/] {detail}"
        )
        if not full:
            continue
        if s.input is not None:
            console.print(f"      [dim]input:[/] {short(s.input, 2000)}")
        if s.prompt:
            for message in s.prompt:
                console.print(f"      [dim]{message.get('role')}:[/] {message.get('content')}")
            console.print(f"      [dim]completion:[/] {s.completion!r}")
            console.print(f"      [dim]token ids:[/] {short(s.token_ids, 200)}")
            console.print(f"      [dim]usage:[/] {short(s.usage, 200)}")


def print_runs(runs: list[Run]) -> None:
    """A table of runs; the id column is never cut, so an id can be copied from any terminal."""
    table = Table(title="runs", box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in runs), default=2))
    for column in ("workflow", "status", "created", "error"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            r.id,
            r.workflow,
            run_status(r),
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            short(r.error or "", 50),
        )
    console.print(table)


def _change_line(change: Change) -> str:
    # As JSON, so the string "1" and the number 1 read differently.
    def value(v: Any, width: int) -> str:
        return short(json.dumps(v, default=str), width)

    if change.change == "added":
        return f"[green]+ {change.path}[/] {value(change.b, 100)}"
    if change.change == "removed":
        return f"[red]- {change.path}[/] {value(change.a, 100)}"
    return f"[yellow]~ {change.path}[/] {value(change.a, 48)} [dim]→[/] {value(change.b, 48)}"


def print_diff(diff: RunDiff) -> None:
    """Two runs compared: a line a visit, the differing fields under it, then the outputs."""
    for side, run in (("a", diff.a), ("b", diff.b)):
        console.print(
            f"{side}: [bold]{run.id}[/]  {run.workflow} v{run.workflow_version}  {run_status(run)}"
        )
    if not diff.same_workflow:
        console.print("[yellow]runs of different workflows[/]")
    elif not diff.same_spec:
        console.print("[yellow]runs of different spec versions[/]")
    for change in diff.input:
        console.print("  " + _change_line(change))
    divergence = diff.first_divergence
    if divergence is None:
        console.print("[green]no divergence[/]: every step the same")
    else:
        console.print(f"[red]first divergence[/] at step {divergence.index}: {divergence.summary}")
    for step in diff.steps:
        mark = "[green]=[/]" if step.same else "[red]≠[/]"
        tries = ""
        if step.attempts_a != step.attempts_b or step.attempts_a > 1:
            tries = f" [dim]attempts {step.attempts_a}/{step.attempts_b}[/]"
        only = {(True, False): " [dim]only in a[/]", (False, True): " [dim]only in b[/]"}
        presence = only.get((step.a is not None, step.b is not None), "")
        console.print(f"{step.index:>3} {mark} [bold]{step.node}[/] #{step.visit}{tries}{presence}")
        for change in step.changes:
            console.print("      " + _change_line(change))
    if diff.output:
        console.print("[bold]output[/]")
        for change in diff.output:
            console.print("  " + _change_line(change))
    console.print("identical" if diff.identical else "[red]different[/]")
