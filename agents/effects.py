"""The effects ledger: exactly-once side effects under at-least-once execution.

A side-effecting tool call is keyed by ``(run_id, node, call_index)``, where
``call_index`` is the how-manieth visit of the node in the run (stable when a
crashed step is re-executed from its checkpoint).  The call is

1. looked up: a ``done`` entry returns its recorded response, the tool is not called;
2. otherwise recorded as ``pending`` *before* the effect, in its own commit;
3. performed with the key (tools pass it on, e.g. as a unique column), and
   marked ``done`` with its response in the same transaction as any database
   write the tool makes.

A crash between 2 and 3 leaves a ``pending`` entry; the retry calls the tool
again with the same key, and the tool's own idempotency (the key) makes that
safe.

Given the run's lease (``fence``), the claim (2) and the completion (3) are
conditional on it: a worker that lost the lease gets
:class:`~forgeyard.leases.LeaseLost` before it can call the tool.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from forgeyard.db import get_engine
from forgeyard.leases import Lease
from forgeyard.models import Effect, EffectStatus, utcnow
from workflows.tools import Tool, ToolContext

__all__ = [
    "EffectsLedger",
    "NotJSONError",
    "cancelled_output",
    "committed_effects",
    "ensure_json",
    "idempotency_key",
]


class NotJSONError(TypeError):
    """A tool returned something that cannot be recorded as JSON."""


def ensure_json(tool: str, value: Any) -> None:
    """Refuse tool results the trace, the checkpoint and the ledger could not store."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotJSONError(
            f"tool `{tool}` returned a value that is not plain JSON ({exc}); "
            "return dicts, lists, strings, numbers, booleans or None"
        ) from None


def idempotency_key(run_id: str, node: str, call_index: int) -> str:
    return f"{run_id}:{node}:{call_index}"


def committed_effects(session: Session, run_id: str) -> list[dict[str, Any]]:
    """The run's side effects that happened (``done`` in the ledger), in order."""
    rows = session.exec(
        select(Effect)
        .where(Effect.run_id == run_id, Effect.status == EffectStatus.done)
        .order_by(Effect.id)  # type: ignore[arg-type]
    )
    return [
        {
            "node": row.node,
            "tool": row.tool,
            "idempotency_key": row.idempotency_key,
            "response": row.response,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        }
        for row in rows
    ]


def cancelled_output(session: Session, run_id: str) -> dict[str, Any]:
    """The output of a cancelled run: that it was cancelled and every effect it had made.

    Cancelling cannot undo an effect (a booking stays booked), so a cancelled
    run reports what was done — e.g. the booking reference — rather than an
    empty output.
    """
    return {"cancelled": True, "effects": committed_effects(session, run_id)}


class EffectsLedger:
    """Runs side-effecting tools through the ledger of one database.

    Args:
        engine: The database to record in and to hand tools a session of;
            ``None`` is the configured one (a training sandbox passes its own).
        fence: The run's lease; every claim and completion checks it.
    """

    def __init__(self, engine: Engine | None = None, *, fence: Lease | None = None) -> None:
        self.engine = engine
        self.fence = fence

    def call(
        self,
        tool: Tool,
        *,
        run_id: str,
        node: str,
        call_index: int,
        args: dict[str, Any],
        sandbox: bool = False,
    ) -> tuple[Any, bool]:
        """Perform (or recall) one side-effecting call.

        Returns:
            ``(response, replayed)``: ``replayed`` is true when the response came
            from the ledger and the tool was not called.
        """
        engine = self.engine or get_engine()
        with Session(engine, expire_on_commit=False) as session:
            # The claim: a pending entry (ours from a crashed try, or a frozen
            # worker's) is claimed again under the current epoch.
            self._hold(session)
            entry = self._find(session, run_id, node, call_index)
            if entry is not None and entry.status == EffectStatus.done:
                return entry.response, True
            if entry is not None:
                session.commit()
            else:
                entry = Effect(
                    run_id=run_id, node=node, call_index=call_index, tool=tool.name, request=args
                )
                session.add(entry)
                try:
                    session.commit()
                except IntegrityError:
                    # Another worker recorded it first; fall through to its entry.
                    session.rollback()
                    entry = self._find(session, run_id, node, call_index)
                    assert entry is not None
                    if entry.status == EffectStatus.done:
                        return entry.response, True

        key = idempotency_key(run_id, node, call_index)
        with Session(engine, expire_on_commit=False) as session:
            ctx = ToolContext(
                run_id=run_id, node=node, idempotency_key=key, session=session, sandbox=sandbox
            )
            response = tool(ctx, **args)
            # Checked before anything commits: a bad result rolls the effect back.
            ensure_json(tool.name, response)
            # A worker that lost the lease during the call commits nothing of it.
            self._hold(session)
            entry = self._find(session, run_id, node, call_index)
            assert entry is not None
            entry.status = EffectStatus.done
            entry.response = response
            entry.completed_at = utcnow()
            session.add(entry)
            session.commit()
        return response, False

    def _hold(self, session: Session) -> None:
        if self.fence is not None:
            self.fence.hold(session)

    @staticmethod
    def _find(session: Session, run_id: str, node: str, call_index: int) -> Effect | None:
        return session.exec(
            select(Effect).where(
                Effect.run_id == run_id, Effect.node == node, Effect.call_index == call_index
            )
        ).first()
