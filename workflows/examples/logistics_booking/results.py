"""What the booking desk's tools return, declared so specs' paths into them are checked.

``validation.request.hazardous`` in a spec is checked against
:class:`Validation` and :class:`Request`; a misspelled key fails validation.
These are ``typing_extensions.TypedDict``\\ s: the tools keep returning plain
dicts, and pydantic describes them as JSON Schema for the loader.
"""

from __future__ import annotations

from typing_extensions import TypedDict

__all__ = ["Booked", "Charge", "Quote", "Quotes", "Request", "Screening", "Validation"]


class Request(TypedDict):
    """A normalized booking request."""

    origin: str
    destination: str
    container_type: str
    containers: int
    cargo_weight_kg: float
    commodity: str
    hazardous: bool
    imo_class: str | None
    un_number: str | None
    ready_date: str
    deadline_date: str | None
    shipper: str
    consignee: str | None


class Problem(TypedDict):
    field: str
    message: str


class Validation(TypedDict):
    """``logistics.validate_request``: the normalized request, or what to ask."""

    valid: bool
    request: Request | None
    problems: list[Problem]
    questions: list[str]


class Charge(TypedDict):
    code: str
    description: str
    usd_per_container: float


class Quote(TypedDict):
    """One sailing of one carrier's service, priced for the request."""

    quote_id: str
    carrier: str
    carrier_name: str
    service: str
    service_name: str
    origin: str
    destination: str
    container_type: str
    containers: int
    etd: str
    eta: str
    sailing_week: str
    transit_days: int
    charges: list[Charge]
    price_per_container_usd: float
    price_usd: float
    capacity_ok: bool
    meets_deadline: bool


class Quotes(TypedDict):
    """``logistics.quote``: cheapest first."""

    quotes: list[Quote]
    count: int


class Rejection(TypedDict):
    quote_id: str | None
    reason: str


class Screening(TypedDict):
    """``logistics.screen``: compliance of the shipment and of each quote."""

    cleared: bool
    hazardous: bool
    issues: list[str]
    eligible_quotes: list[Quote]
    eligible_quote_ids: list[str]
    rejected: list[Rejection]


class Booked(TypedDict):
    """``logistics.book``: the booking made (or the one this call made before)."""

    booking_reference: str
    quote_id: str
    carrier: str
    carrier_name: str
    origin: str
    destination: str
    container_type: str
    containers: int
    etd: str
    eta: str
    price_usd: float
    hazardous: bool
