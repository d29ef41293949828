"""The adapter registry: promote a candidate through the gate, roll back, serve per tenant.

An adapter row (:class:`~forgeyard.records.training.AdapterRecord`) starts as a
``candidate`` when training finishes.  :func:`promote` loads it into the
running vLLM, evaluates it against what answers the node now (the tenant's
active adapter, else the base model) on held-out tasks, and makes it
``active`` only when the gate (:mod:`training.gate`) passes.  The tenant's
next runs then answer that node with it (:func:`active_adapters`); other
tenants and other nodes are untouched.  :func:`rollback` retires an active
adapter and reactivates the one it replaced.  :func:`sync_active_adapters`
loads every active adapter into a freshly (re)started server.

SQL is the truth: the server's loaded adapters follow the rows, and a partial
unique index keeps at most one ``active`` row per tenant, workflow and node.
Over HTTP a promotion is a worker job (:mod:`training.promotions`): the
worker calls :func:`promote` with its lease as ``fence``, so the gate's
decision and the activation are written only while that lease is held.

Errors (all :class:`~training.TrainingError`, which names the ``field``)::

    TrainingError
    ├── AdapterNotFound        no such adapter for this tenant
    ├── AdapterStateError      not a candidate (promote) / not active (rollback)
    ├── AdapterRankTooLarge    its rank exceeds the server's --max-lora-rank
    └── PromotionRefused       the gate said no; ``decision`` holds its figures
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
from sqlmodel import Session, col, select

from agents.model_client import ModelClient
from forgeyard.db import session_scope
from forgeyard.leases import Lease, LeaseLost
from forgeyard.models import utcnow
from forgeyard.records.rewards import RewardModelRecord
from forgeyard.records.training import AdapterRecord, AdapterStatus
from forgeyard.settings import get_settings
from rewards import store
from rewards.errors import RewardModelNotFound
from serving import AdapterError, ModelServerError, load_adapter, root_url, unload_adapter
from training import TrainingError, environment_id
from training.envs import reward_model_reward
from training.evaluation import evaluate_served, held_out_tasks, make_env
from training.gate import decide

__all__ = [
    "AdapterNotFound",
    "AdapterRankTooLarge",
    "AdapterStateError",
    "REGISTRY",
    "PromotionRefused",
    "RegistryAdapters",
    "active_adapters",
    "check_promotable",
    "ensure_loaded",
    "get_adapter",
    "list_adapters",
    "promote",
    "rollback",
    "sync_active_adapters",
]

log = logging.getLogger("forgeyard.training")

# Called in the transaction that stores the gate's decision (a promotion job records it).
OnDecision = Callable[[Session, dict[str, Any]], None]

SERVED_PREFIX = "adapter-"


class AdapterNotFound(TrainingError, LookupError):
    """No adapter with that id for this tenant."""


class AdapterStateError(TrainingError):
    """The adapter's status does not allow the request."""


class AdapterRankTooLarge(TrainingError):
    """The adapter's LoRA rank exceeds what the model server was started with."""


class PromotionRefused(TrainingError):
    """The promotion gate refused the candidate; ``decision`` holds the figures."""

    def __init__(self, message: str, decision: dict[str, Any]) -> None:
        super().__init__(message, field="gate")
        self.decision = decision


# -- reading ----------------------------------------------------------------------
def get_adapter(adapter_id: str, *, tenant_id: str | None = None) -> AdapterRecord:
    """The adapter ``adapter_id`` (of ``tenant_id``, when given).

    Raises:
        AdapterNotFound: there is none, or it belongs to another tenant.
    """
    with session_scope() as session:
        record = session.get(AdapterRecord, adapter_id)
    if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
        raise AdapterNotFound(f"No adapter `{adapter_id}`.", field="adapter_id")
    return record


def list_adapters(
    *,
    tenant_id: str | None = None,
    workflow: str | None = None,
    node: str | None = None,
    status: AdapterStatus | None = None,
) -> list[AdapterRecord]:
    """Adapters, newest first, filtered by whatever is given."""
    query = select(AdapterRecord).order_by(col(AdapterRecord.created_at).desc())
    for column, value in (
        (AdapterRecord.tenant_id, tenant_id),
        (AdapterRecord.workflow, workflow),
        (AdapterRecord.node, node),
        (AdapterRecord.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    with session_scope() as session:
        return list(session.exec(query))


def _active(session: Session, tenant_id: str, workflow: str, node: str) -> AdapterRecord | None:
    return session.exec(
        select(AdapterRecord).where(
            AdapterRecord.tenant_id == tenant_id,
            AdapterRecord.workflow == workflow,
            AdapterRecord.node == node,
            AdapterRecord.status == AdapterStatus.active,
        )
    ).first()


def active_adapters(tenant_id: str, workflow: str) -> dict[str, str]:
    """``{node: served_name}`` of the tenant's active adapters for ``workflow``."""
    with session_scope() as session:
        rows = session.exec(
            select(AdapterRecord).where(
                AdapterRecord.tenant_id == tenant_id,
                AdapterRecord.workflow == workflow,
                AdapterRecord.status == AdapterStatus.active,
            )
        )
        return {row.node: row.served_name for row in rows}


# -- the server's side ------------------------------------------------------------
def _server_url(server_url: str | None) -> str:
    return root_url(server_url or get_settings().model_base_url)


def loaded_models(server_url: str) -> set[str]:
    """Names the server answers to now (base model and loaded adapters)."""
    url = f"{root_url(server_url)}/v1/models"
    try:
        response = httpx.get(url, timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ModelServerError(f"cannot list the models served at {url}: {exc}") from exc
    return {entry["id"] for entry in response.json()["data"]}


def _load(server_url: str, record: AdapterRecord) -> None:
    # In place: a server that still holds it (an interrupted promotion) reloads it.
    load_adapter(server_url, record.served_name, record.path, replace=True)


def _unload(server_url: str, record: AdapterRecord) -> None:
    """Unload, best effort: no run names an adapter the registry does not hold active.

    One the server does not hold (it restarted) is already gone; an unreachable
    server loses it when it comes back.
    """
    try:
        unload_adapter(server_url, record.served_name)
    except AdapterError as exc:
        log.info("adapter %s was not loaded: %s", record.served_name, exc)
    except ModelServerError as exc:
        log.warning("adapter %s left loaded: %s", record.served_name, exc)


def ensure_loaded(served_name: str, *, server_url: str | None = None) -> bool:
    """Load the active adapter ``served_name`` from the registry (a restarted server).

    Returns:
        Whether an active adapter of that name exists and was loaded.
    """
    if not served_name.startswith(SERVED_PREFIX):
        return False
    with session_scope() as session:
        record = session.get(AdapterRecord, served_name.removeprefix(SERVED_PREFIX))
    if record is None or record.status != AdapterStatus.active:
        return False
    _load(_server_url(server_url), record)
    return True


class RegistryAdapters:
    """The adapter registry as the run engine's :class:`~agents.adapters.AdapterSource`.

    Workers and the CLI pass it to :func:`agents.runner.execute_run`, so a
    tenant's runs are answered by that tenant's active adapters.
    """

    def active(self, tenant_id: str, workflow: str) -> dict[str, str]:
        return active_adapters(tenant_id, workflow)

    def reload(self, served_name: str, server_url: str) -> bool:
        return ensure_loaded(served_name, server_url=server_url)


REGISTRY = RegistryAdapters()


def sync_active_adapters(server_url: str | None = None) -> list[str]:
    """Load every active adapter (all tenants) the server does not hold yet.

    Call it where a model server (re)starts, so tenants' runs find their adapters.

    Returns:
        The served names loaded now.
    """
    url = _server_url(server_url)
    held = loaded_models(url)
    loaded = []
    for record in list_adapters(status=AdapterStatus.active):
        if record.served_name not in held:
            _load(url, record)
            loaded.append(record.served_name)
    return loaded


# -- promotion and rollback -------------------------------------------------------
def _check_promotable(record: AdapterRecord, max_lora_rank: int) -> None:
    if record.status != AdapterStatus.candidate:
        raise AdapterStateError(
            f"Adapter `{record.id}` is {record.status.value}; only a candidate can be promoted "
            "(roll back an active one with `rollback`).",
            field="status",
        )
    environment_id(record.workflow, record.node)  # unknown workflow or node: TrainingError
    if record.rank > max_lora_rank:
        raise AdapterRankTooLarge(
            f"Adapter `{record.id}` has LoRA rank {record.rank} but the model server accepts "
            f"at most {max_lora_rank}; restart it with `--max-lora-rank` >= {record.rank} "
            f"(FORGEYARD_SERVE_MAX_LORA_RANK) or retrain with `lora_rank` <= {max_lora_rank}.",
            field="rank",
        )


def check_promotable(
    record: AdapterRecord, *, max_lora_rank: int | None = None
) -> RewardModelRecord:
    """What can be decided without the model server; the reward model the gate scores with.

    Raises:
        AdapterStateError: it is not a candidate.
        AdapterRankTooLarge: its rank exceeds the server's.
        TrainingError: its workflow, node or reward model is unknown.
    """
    _check_promotable(record, max_lora_rank or get_settings().serve_max_lora_rank)
    try:
        return store.get_version(record.reward_model_id, tenant_id=record.tenant_id)
    except RewardModelNotFound:
        raise TrainingError(
            f"Adapter `{record.id}` names reward model `{record.reward_model_id}`, which this "
            "tenant does not have; register it again or retrain with one it has.",
            field="reward_model_id",
        ) from None


def promote(
    adapter_id: str,
    *,
    tenant_id: str,
    client: ModelClient | None = None,
    max_lora_rank: int | None = None,
    held_out: int | None = None,
    held_out_seed: int | None = None,
    margin: float | None = None,
    fence: Lease | None = None,
    on_decision: OnDecision | None = None,
) -> AdapterRecord:
    """Promote candidate ``adapter_id`` of ``tenant_id`` if it beats what serves now.

    Loads it into the server, evaluates it and the current model (the active
    adapter of the same tenant, workflow and node, else the base model) on the
    same held-out tasks, and applies the gate.  Passed: in one transaction
    the previous active adapter is retired and this one becomes active
    (``previous_adapter_id`` set); the retired one is then unloaded.
    Refused: it is unloaded and stays a candidate, the decision stored on it.

    Args:
        adapter_id: The candidate.
        tenant_id: Whose it must be.
        client: Client of the model server; default the configured one.
        max_lora_rank: The server's ``--max-lora-rank``; default the setting.
        held_out: Held-out tasks to generate; default ``adapter_gate_tasks``.
        held_out_seed: Their seed; default ``adapter_gate_seed``.
        margin: Required gain; default ``adapter_gate_margin``.
        fence: A promotion job's lease: checked before the adapter is loaded
            and held by the transaction that stores the decision; once lost,
            nothing more is written or unloaded (the new holder owns it).
        on_decision: Called with the session and the decision inside that
            transaction (the job records its outcome with it).

    Returns:
        The adapter, now active, with the gate's decision in ``gate``.

    Raises:
        AdapterNotFound: no such adapter for this tenant.
        AdapterStateError: it is not a candidate.
        AdapterRankTooLarge: its rank exceeds the server's (nothing is loaded).
        TrainingError: its workflow, node or reward model is unknown.
        PromotionRefused: the gate refused it.
        serving.ModelServerError: the server could not load it or be reached.
        forgeyard.leases.LeaseLost: ``fence`` was lost (nothing was written).
    """
    settings = get_settings()
    record = get_adapter(adapter_id, tenant_id=tenant_id)
    reward_version = check_promotable(record, max_lora_rank=max_lora_rank)
    client = client or ModelClient.default()
    url = root_url(client.base_url)
    with session_scope() as session:
        current = _active(session, tenant_id, record.workflow, record.node)
    if fence is not None:
        fence.check()
    _load(url, record)
    try:
        if current is not None and current.served_name not in loaded_models(url):
            _load(url, current)
        tasks = held_out_tasks(
            held_out or settings.adapter_gate_tasks,
            seed=settings.adapter_gate_seed if held_out_seed is None else held_out_seed,
        )
        reward = reward_model_reward.from_record(reward_version)
        env = make_env(record.workflow, record.node, reward, tasks)
        try:
            candidate_eval = evaluate_served(record.served_name, env, client=client)
            current_name = current.served_name if current is not None else client.model
            current_eval = evaluate_served(current_name, env, client=client)
        finally:
            env.close()
        decision = decide(
            candidate_eval,
            current_eval,
            reward.model,
            margin=settings.adapter_gate_margin if margin is None else margin,
        )
    except BaseException as exc:
        if not isinstance(exc, LeaseLost):
            _unload(url, record)
        raise
    decision["current_adapter_id"] = current.id if current is not None else None
    if not decision["passed"]:
        # Stored first: a holder that lost its lease leaves the server to the new one.
        _store_gate(record.id, decision, fence=fence, on_decision=on_decision)
        _unload(url, record)
        raise PromotionRefused(
            f"Adapter `{record.id}` was not promoted: {decision['reason']}.", decision
        )
    promoted = _activate(
        record.id,
        decision,
        replaces=current.id if current else None,
        fence=fence,
        on_decision=on_decision,
    )
    if current is not None:
        _unload(url, current)
    return promoted


def _store_gate(
    adapter_id: str,
    decision: dict[str, Any],
    *,
    fence: Lease | None = None,
    on_decision: OnDecision | None = None,
) -> None:
    with session_scope() as session:
        if fence is not None:
            fence.hold(session)
        if on_decision is not None:
            on_decision(session, decision)
        row = session.get(AdapterRecord, adapter_id)
        assert row is not None
        row.gate = decision
        session.add(row)


def _activate(
    adapter_id: str,
    decision: dict[str, Any],
    *,
    replaces: str | None,
    fence: Lease | None = None,
    on_decision: OnDecision | None = None,
) -> AdapterRecord:
    """One transaction: the active one (if any) retired, the candidate active (fenced)."""
    now = utcnow()
    with session_scope() as session:
        if fence is not None:
            fence.hold(session)
        if on_decision is not None:
            on_decision(session, decision)
        row = session.get(AdapterRecord, adapter_id)
        assert row is not None
        if row.status != AdapterStatus.candidate:
            raise AdapterStateError(
                f"Adapter `{adapter_id}` became {row.status.value} during its evaluation.",
                field="status",
            )
        active = _active(session, row.tenant_id, row.workflow, row.node)
        if active is not None and active.id != replaces:
            raise AdapterStateError(
                f"Adapter `{active.id}` became active for node `{row.node}` while `{adapter_id}` "
                "was evaluated against another; promote it again.",
                field="status",
            )
        if active is not None:
            active.status = AdapterStatus.retired
            active.retired_at = now
            session.add(active)
            session.flush()  # retired before the other becomes active: one active at a time
        row.status = AdapterStatus.active
        row.previous_adapter_id = replaces
        row.promoted_at = now
        row.gate = decision
        session.add(row)
    return row


def rollback(
    adapter_id: str, *, tenant_id: str, server_url: str | None = None
) -> tuple[AdapterRecord, AdapterRecord | None]:
    """Retire active ``adapter_id``; the adapter it replaced (if any) serves again.

    The previous adapter is loaded first, so a server that cannot load it
    leaves everything as it was; without one, the base model answers the node.

    Returns:
        The retired adapter, and the one active again (None: the base model answers).

    Raises:
        AdapterNotFound: no such adapter for this tenant.
        AdapterStateError: it is not active.
        serving.ModelServerError: the previous adapter could not be loaded.
    """
    record = get_adapter(adapter_id, tenant_id=tenant_id)
    if record.status != AdapterStatus.active:
        raise AdapterStateError(
            f"Adapter `{record.id}` is {record.status.value}; only the active adapter can be "
            "rolled back.",
            field="status",
        )
    url = _server_url(server_url)
    previous = None
    if record.previous_adapter_id is not None:
        with contextlib.suppress(AdapterNotFound):
            previous = get_adapter(record.previous_adapter_id, tenant_id=tenant_id)
    if previous is not None:
        _load(url, previous)
    now = utcnow()
    with session_scope() as session:
        row = session.get(AdapterRecord, record.id)
        assert row is not None
        if row.status != AdapterStatus.active:
            raise AdapterStateError(f"Adapter `{record.id}` is no longer active.", field="status")
        row.status = AdapterStatus.retired
        row.retired_at = now
        session.add(row)
        session.flush()
        if previous is not None:
            back = session.get(AdapterRecord, previous.id)
            assert back is not None
            back.status = AdapterStatus.active
            back.retired_at = None
            back.promoted_at = now
            session.add(back)
            previous = back
    _unload(url, record)
    return row, previous
