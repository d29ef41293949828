"""`forgeyard runs replay | fork | replay-all`: replays and forks from the command line.

Registered on the `runs` group by :mod:`forgeyard.app.cli`.  Without
``--wait`` a replay or fork is handed to the workers (as the API does); with
it, it runs here, in this process, and its result is printed.  ``replay-all``
always runs here: recorded replays call no model and make no side effect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from forgeyard.app.console import console, err_console


def parse_step(value: str) -> int | dict[str, Any]:
    """``7`` (a step's seq), ``choose`` or ``choose:1`` (node and visit)."""
    if value.isdigit():
        return int(value)
    node, _, visit = value.partition(":")
    if visit and not visit.isdigit():
        raise typer.BadParameter(f"`{value}`: give a step number, NODE or NODE:VISIT")
    return {"node": node, "visit": int(visit or 0)}


def parse_patch(value: str) -> list[Any]:
    """A JSON patch given inline or as a file name."""
    path = Path(value)
    text = path.read_text() if not value.lstrip().startswith("[") and path.is_file() else value
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON, nor a file holding JSON: {exc}") from None
    if not isinstance(patch, list):
        raise typer.BadParameter("a JSON patch is a list of operations")
    return patch


def print_result(run: Any) -> None:
    """The lineage line of a replay or fork: what it is of, and how it compares."""
    replay = run.replay or {}
    console.print(f"  {run.kind} of [bold]{run.parent_run_id}[/]")
    result = replay.get("result")
    if result == "identical":
        console.print(f"  [green]identical[/] ({replay.get('steps_compared')} steps compared)")
    elif result == "diverged":
        from agents.lineage import describe

        divergence = replay["divergence"]
        console.print(f"  [red]{describe(divergence)}[/]")
        console.print(f"    recorded: {json.dumps(divergence.get('recorded'), default=str)}")
        console.print(f"    replayed: {json.dumps(divergence.get('replayed'), default=str)}")


def register(runs_app: typer.Typer, user_errors: Callable[..., Any], drive: Any) -> None:
    """Add the commands to ``runs_app`` (``drive`` runs a run here, asking approvals)."""

    def hand_over_or_run(run: Any, wait: bool) -> None:
        from forgeyard.app.console import print_run
        from forgeyard.db import session_scope
        from forgeyard.models import Run, utcnow
        from worker.runs import enqueue

        if wait:
            from agents.runner import get_run

            try:
                drive(run.id, approve=None, by="cli")  # exits 1 when the run failed
            finally:
                print_result(get_run(run.id))
            return
        with session_scope() as session:
            row = session.get(Run, run.id)
            assert row is not None
            row.enqueued_at = utcnow()
            session.add(row)
        if not enqueue(run.id):
            err_console.print("[yellow]broker unreachable:[/] the sweeper will send it later")
        print_run(run)
        console.print(f"  {run.kind} of {run.parent_run_id}; follow: forgeyard runs show {run.id}")

    @runs_app.command("replay")
    @user_errors
    def runs_replay(
        run_id: str,
        what_if: Annotated[
            bool, typer.Option("--what-if", help="llm nodes answered live (else: recorded).")
        ] = False,
        adapter: Annotated[
            str | None, typer.Option(help="What-if: the served adapter answering llm nodes.")
        ] = None,
        model: Annotated[
            str | None, typer.Option(help="What-if: the served model answering llm nodes.")
        ] = None,
        wait: Annotated[
            bool, typer.Option("--wait", help="Run it here and print its result.")
        ] = False,
    ) -> None:
        """Replay a finished run as a new run: recorded (no model, no effect) or what-if."""
        from agents.replay import create_replay

        mode = "what_if" if what_if else "recorded"
        run = create_replay(run_id, mode=mode, adapter=adapter, model=model)
        hand_over_or_run(run, wait)

    @runs_app.command("fork")
    @user_errors
    def runs_fork(
        run_id: str,
        at: Annotated[str, typer.Option("--at", help="Step number, NODE or NODE:VISIT.")],
        patch: Annotated[
            str, typer.Option(help="RFC 6902 JSON patch on the state: inline JSON or a file.")
        ] = "[]",
        live_effects: Annotated[
            bool,
            typer.Option("--live-effects", help="Real side effects, each after an approval."),
        ] = False,
        wait: Annotated[
            bool, typer.Option("--wait", help="Run it here and print its result.")
        ] = False,
    ) -> None:
        """Fork a run after one of its steps with a patched state, as a new run."""
        from agents.replay import create_fork

        run = create_fork(
            run_id, at_step=parse_step(at), patch=parse_patch(patch), live_effects=live_effects
        )
        hand_over_or_run(run, wait)

    @runs_app.command("replay-all")
    @user_errors
    def runs_replay_all(
        workflow: str,
        last: Annotated[int, typer.Option(min=1, help="How many of the newest finished runs.")],
        tenant: Annotated[str | None, typer.Option(help="Only this tenant's runs.")] = None,
    ) -> None:
        """Replay (recorded) a workflow's newest runs here; exit 1 when any diverged."""
        from agents.lineage import describe
        from agents.replay import replay_recent

        def progress(run: Any) -> None:
            mark = "[green]✓[/]" if (run.replay or {}).get("result") == "identical" else "[red]✗[/]"
            console.print(f"  {mark} {run.parent_run_id} → {run.id}")

        summary = replay_recent(workflow, last=last, tenant_id=tenant, on_replay=progress)
        body = summary.to_json()
        console.print(
            f"{body['replayed']} replayed: [green]{body['identical']} identical[/], "
            f"[red]{body['diverged']} diverged[/]"
        )
        for item in body["diverged_replays"]:
            divergence = item["divergence"]
            reason = describe(divergence) if divergence else item["message"]
            console.print(f"  {item['source_id']}: {reason}")
        if body["diverged"]:
            raise typer.Exit(1)
