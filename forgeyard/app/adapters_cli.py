"""``forgeyard adapters …``: list, show, promote and roll back LoRA adapters.

The commands of :mod:`training.adapters`; kept out of the ``training`` package
so that ``forgeyard --help`` does not import it (Gymnasium, LangGraph: ~1 s).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from forgeyard.app.console import console, err_console

app = typer.Typer(
    help="LoRA adapters: promote a candidate through the gate, roll back, inspect.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

F = TypeVar("F", bound=Callable[..., Any])
Tenant = Annotated[str, typer.Option(help="Tenant whose adapter it is.")]


def _user_errors(fn: F) -> F:
    """Errors a user can cause become one message and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from serving import ServingError
        from training import TrainingError
        from training.adapters import PromotionRefused

        try:
            return fn(*args, **kwargs)
        except PromotionRefused as exc:
            err_console.print(f"[red]refused:[/] {escape(str(exc))}")
            _print_gate(exc.decision)
            raise typer.Exit(1) from None
        except (TrainingError, ServingError, ValueError) as exc:
            err_console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _db() -> None:
    from forgeyard.db import upgrade

    upgrade()


def _line(a: Any) -> str:
    return f"{a.id}  {a.tenant_id}  {a.workflow}.{a.node}  rank {a.rank}  {a.status.value}"


def _print_gate(gate: dict[str, Any] | None) -> None:
    if not gate:
        console.print("gate: not evaluated yet")
        return
    mean = gate["mean_reward"]
    probes = gate["hack_pass_rate"]
    console.print(
        f"gate: {'passed' if gate['passed'] else 'refused'} on {gate['tasks']} held-out tasks\n"
        f"  mean reward  candidate {mean['candidate']:.3f}  current {mean['current']:.3f} "
        f"({gate['current']})\n"
        f"  difference   {gate['mean_difference']:+.3f}  95% interval "
        f"[{gate['ci_low']:+.3f}, {gate['ci_high']:+.3f}]  margin {gate['margin']:g}\n"
        f"  hack probes  candidate {probes['candidate']}  current {probes['current']}\n"
        f"  {escape(gate['reason'])}"
    )


@app.command("list")
@_user_errors
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's.")] = None,
    node: Annotated[str | None, typer.Option(help="Only this node's.")] = None,
    status: Annotated[str | None, typer.Option(help="candidate, active or retired.")] = None,
) -> None:
    """List adapters, newest first."""
    from forgeyard.records.training import AdapterStatus
    from training.adapters import list_adapters

    try:
        wanted = AdapterStatus(status) if status is not None else None
    except ValueError:
        raise ValueError(
            f"--status `{status}` is not one of {', '.join(s.value for s in AdapterStatus)}"
        ) from None
    _db()
    for a in list_adapters(tenant_id=tenant, workflow=workflow, node=node, status=wanted):
        console.print(_line(a))


@app.command("show")
@_user_errors
def show(
    adapter_id: Annotated[str, typer.Argument(help="Adapter id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Show an adapter with the gate's last decision."""
    from training.adapters import get_adapter

    _db()
    a = get_adapter(adapter_id)
    if as_json:
        print(json.dumps(a.model_dump(mode="json") | {"served_name": a.served_name}, indent=2))
        return
    console.print(
        f"{_line(a)}\nserved as {a.served_name}\npath {a.path}\nbase model {a.base_model}"
        f"\nreward model {a.reward_model_id}\nprevious {a.previous_adapter_id or '-'}"
    )
    _print_gate(a.gate)


@app.command("promote")
@_user_errors
def promote(
    adapter_id: Annotated[str, typer.Argument(help="Candidate id.")], tenant: Tenant
) -> None:
    """Evaluate a candidate against what serves now; active only if the gate passes.

    Runs the promotion here, under the same lease a worker takes (so a worker
    handed the same promotion waits for it); over HTTP a worker runs it.
    """
    from training.adapters import PromotionRefused, get_adapter
    from training.promotions import create_promotion, run_promotion

    _db()
    promotion = run_promotion(create_promotion(adapter_id, tenant_id=tenant).id)
    if promotion.error_field == "gate":
        raise PromotionRefused(promotion.error or "refused by the gate", promotion.gate or {})
    if promotion.error is not None:
        raise ValueError(f"promotion {promotion.id} failed: {promotion.error}")
    a = get_adapter(adapter_id)
    console.print(f"[green]promoted[/] {_line(a)} (served as {a.served_name})")
    _print_gate(a.gate)


@app.command("rollback")
@_user_errors
def rollback(
    adapter_id: Annotated[str, typer.Argument(help="Active adapter id.")], tenant: Tenant
) -> None:
    """Retire the active adapter; the one it replaced (or the base model) serves again."""
    from training.adapters import rollback as rollback_adapter

    _db()
    retired, active = rollback_adapter(adapter_id, tenant_id=tenant)
    console.print(f"retired {_line(retired)}")
    console.print(f"now serving: {_line(active) if active else 'the base model'}")
