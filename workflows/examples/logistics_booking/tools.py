"""The booking desk's tools, registered for the workflow's ``tool`` nodes.

``logistics.validate_request`` → ``logistics.quote`` → ``logistics.screen`` are
pure functions of their arguments and the reference data; ``logistics.book`` is
the one side effect and writes a :class:`~.models.Booking` row in the caller's
transaction.  Bad request *content* is answered (``valid: false`` with
questions); calling a later tool on an invalid request or a foreign quote is a
workflow bug and raises :class:`~workflows.tools.ToolError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlmodel import select

from workflows.tools import ToolContext, ToolError, tool

from ._grounding import ungrounded
from ._quote import quotes_for
from ._screen import screen_request
from ._validate import normalize_request
from .models import Booking
from .results import Booked, Quotes, Screening, Validation

__all__ = ["book", "booking_reference", "quote", "screen", "validate_request"]

# Fields a quote handed to `book` must share with the quote the desk would give
# today for the same request; anything else means it belongs to another request.
_QUOTE_FIELDS = (
    "carrier",
    "origin",
    "destination",
    "container_type",
    "containers",
    "etd",
    "eta",
    "price_usd",
)


def _as_request(request: Any, tool_name: str) -> dict[str, Any]:
    if not isinstance(request, Mapping):
        raise ToolError(
            f"`{tool_name}` needs `request` to be an object, got {type(request).__name__}."
        )
    normalized, problems = normalize_request(request)
    if normalized is None:
        listed = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise ToolError(
            f"`{tool_name}` got an invalid request ({listed}); run logistics.validate_request "
            "first and only continue when it says valid."
        )
    return normalized


@tool("logistics.validate_request", returns=Validation)
def validate_request(request: dict, source_text: str | None = None) -> dict:
    """Check a booking request and normalize it, or list what to ask the shipper.

    Args:
        request: The shipper's request; port names, lowercase codes, ``40' HC`` style
            container names and numbers as strings are accepted.
        source_text: The shipper's message when ``request`` was read from it by the
            model: a denied place or party, UN number or IMO class the message names
            but the request leaves out makes the request not valid (a question).

    Returns:
        ``{"valid", "request", "problems": [{"field", "message"}], "questions"}``;
        ``request`` is the normalized request, or None when not valid.

    Raises:
        ToolError: ``request`` is not an object.
    """
    if not isinstance(request, Mapping):
        raise ToolError(
            f"`logistics.validate_request` needs `request` to be an object, got "
            f"{type(request).__name__}."
        )
    normalized, problems = normalize_request(request)
    found = [(p.field, p.message, p.question) for p in problems]
    if normalized is not None and source_text:
        # The model's reading is checked against the message itself: what it
        # leaves out would otherwise never reach screening.
        by_field: dict[str, tuple[str, str, str]] = {}
        for miss in ungrounded(source_text, normalized):
            by_field.setdefault(miss[0], miss)  # one question per field, as validation asks
        found = list(by_field.values())
        normalized = None if found else normalized
    return {
        "valid": normalized is not None,
        "request": normalized,
        "problems": [{"field": f, "message": m} for f, m, _ in found],
        "questions": [q for _, _, q in found],
    }


@tool("logistics.quote", returns=Quotes)
def quote(request: dict) -> dict:
    """Quote the next three weekly sailings of every carrier serving the lane.

    Args:
        request: A request that ``logistics.validate_request`` accepts.

    Returns:
        ``{"quotes": [...], "count": int}``, cheapest first; empty when no carrier
        serves the lane with this container type.
    """
    quotes = quotes_for(_as_request(request, "logistics.quote"))
    return {"quotes": quotes, "count": len(quotes)}


@tool("logistics.screen", returns=Screening)
def screen(request: dict, quotes: list) -> dict:
    """Compliance screening of the shipment and of each quote.

    Args:
        request: A request that ``logistics.validate_request`` accepts.
        quotes: Quotes from ``logistics.quote`` for that request.

    Returns:
        ``{"cleared", "hazardous", "issues", "eligible_quotes", "eligible_quote_ids",
        "rejected": [{"quote_id", "reason"}]}``.  Quotes that miss the deadline stay
        eligible (with ``meets_deadline: false``) for the chooser to weigh.
    """
    normalized = _as_request(request, "logistics.screen")
    if not isinstance(quotes, list) or not all(isinstance(q, Mapping) for q in quotes):
        raise ToolError("`logistics.screen` needs `quotes` to be a list of quote objects.")
    return screen_request(normalized, quotes)


def booking_reference(idempotency_key: str) -> str:
    """The booking reference for an idempotency key: the same key, the same booking."""
    return "FYB-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:8].upper()


def _checked_quote(request: dict[str, Any], chosen: Any) -> dict[str, Any]:
    if not isinstance(chosen, Mapping) or not chosen.get("quote_id"):
        raise ToolError("`logistics.book` needs `quote` to be a quote object with a `quote_id`.")
    qid = chosen["quote_id"]
    current = {q["quote_id"]: q for q in quotes_for(request)}.get(qid)
    lane = (
        f"{request['origin']}→{request['destination']}, {request['containers']} x "
        f"{request['container_type']}, ready {request['ready_date']}"
    )
    if current is None:
        raise ToolError(f"Quote `{qid}` is not offered for {lane}; quote the request again.")
    for field in _QUOTE_FIELDS:
        if chosen.get(field) != current[field]:
            raise ToolError(
                f"Quote `{qid}` has {field}={chosen.get(field)!r} but the request gives "
                f"{current[field]!r} ({lane}); book a quote made for this request."
            )
    # Defence in depth: the workflow screens before booking, but a booking is
    # the one step that cannot be taken back, so it re-checks compliance itself.
    result = screen_request(request, [current])
    if not result["cleared"]:
        raise ToolError(f"Shipment not cleared: {' '.join(result['issues'])}")
    if result["rejected"]:
        raise ToolError(
            f"Quote `{qid}` was rejected by screening: {result['rejected'][0]['reason']}."
        )
    return current


def _booking_view(row: Booking) -> dict[str, Any]:
    return {
        "booking_reference": row.reference,
        "quote_id": row.quote_id,
        "carrier": row.carrier,
        "carrier_name": row.details["quote"]["carrier_name"],
        "origin": row.origin,
        "destination": row.destination,
        "container_type": row.container_type,
        "containers": row.containers,
        "etd": row.sailing_date,
        "eta": row.details["quote"]["eta"],
        "price_usd": float(row.price_usd),
        "hazardous": row.hazardous,
    }


@tool("logistics.book", side_effect=True, returns=Booked)
def book(request: dict, quote: dict, *, ctx: ToolContext) -> dict:
    """Book the chosen quote: write one booking, or return the one this call already made.

    Args:
        request: The validated request.
        quote: One of the eligible quotes for that request.
        ctx: Supplies the transaction (``session``, not committed here) and the
            ``idempotency_key`` that makes a retried call return the same booking.

    Returns:
        ``{"booking_reference", "quote_id", "carrier", "carrier_name", "origin",
        "destination", "container_type", "containers", "etd", "eta", "price_usd",
        "hazardous"}``.

    Raises:
        ToolError: No session or key, an invalid request, or a quote that is not
            a current, eligible quote for the request.
    """
    if ctx.session is None or not ctx.idempotency_key:
        raise ToolError(
            "`logistics.book` needs a database session and an idempotency key in its "
            "ToolContext; run it as a side-effecting tool node."
        )
    # Look for an earlier booking before re-checking the quote, so a retry
    # returns what was booked even if rates changed in between.
    existing = ctx.session.exec(
        select(Booking).where(Booking.idempotency_key == ctx.idempotency_key)
    ).first()
    if existing is not None:
        return _booking_view(existing)
    normalized = _as_request(request, "logistics.book")
    chosen = _checked_quote(normalized, quote)
    row = Booking(
        reference=booking_reference(ctx.idempotency_key),
        idempotency_key=ctx.idempotency_key,
        run_id=ctx.run_id,
        quote_id=chosen["quote_id"],
        carrier=chosen["carrier"],
        origin=chosen["origin"],
        destination=chosen["destination"],
        container_type=chosen["container_type"],
        containers=chosen["containers"],
        sailing_date=chosen["etd"],
        price_usd=float(chosen["price_usd"]),
        hazardous=normalized["hazardous"],
        details={"request": normalized, "quote": chosen},
    )
    ctx.session.add(row)
    # Flush (not commit): the caller commits together with the effects ledger,
    # but a clash on the unique reference should surface here, inside the tool.
    ctx.session.flush()
    return _booking_view(row)
