"""Normalizes a shipper's booking request, or says what is missing and what to ask.

Requests come from web forms, API clients and a model reading e-mails, so the
parser forgives spelling (``cnsha``, ``Shanghai, China``, ``40' HC``, ``"52,000 kg"``)
but never guesses: an ambiguous port or a contradictory dangerous-goods
declaration becomes a question for the shipper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ._parse import (
    parse_bool,
    parse_date,
    parse_imo_class,
    parse_int,
    parse_un_number,
    parse_weight,
    resolve_container,
    resolve_port,
)
from .data import ContainerType, Port, container_types, un_numbers

FIELDS = (
    "origin",
    "destination",
    "container_type",
    "containers",
    "cargo_weight_kg",
    "commodity",
    "hazardous",
    "imo_class",
    "un_number",
    "ready_date",
    "deadline_date",
    "shipper",
    "consignee",
)
MAX_CONTAINERS = 50

_PORT_QUESTION = "Please give the port name or its UN/LOCODE."
MISSING_QUESTIONS = {
    "origin": f"Which port should the cargo be loaded at? {_PORT_QUESTION}",
    "destination": f"Which destination port should the cargo go to? {_PORT_QUESTION}",
    "container_type": "Which container type do you need ({types})?",
    "containers": f"How many containers do you need (1 to {MAX_CONTAINERS})?",
    "cargo_weight_kg": "What is the total gross weight of the cargo in kilograms?",
    "commodity": "What goods are being shipped? A short description is enough, "
    "e.g. 'furniture' or 'frozen shrimp'.",
    "imo_class": "Which IMO dangerous-goods class is the cargo (1 to 9, e.g. 3 for "
    "flammable liquids)?",
    "un_number": "What is the cargo's UN number (four digits, e.g. UN1263 for paint)?",
    "ready_date": "When will the cargo be ready for loading at the origin port? "
    "Please give a date (YYYY-MM-DD).",
    "shipper": "What is the shipper's company name?",
    "consignee": "Who is the consignee, i.e. the company receiving the goods?",
}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    question: str


class _Problems:
    """Collects at most one problem per field: one question per thing to fix."""

    def __init__(self) -> None:
        self._by_field: dict[str, Problem] = {}

    def add(self, field: str, message: str, question: str) -> None:
        self._by_field.setdefault(field, Problem(field, message, question))

    def missing(self, field: str) -> None:
        types = ", ".join(container_types())
        self.add(field, f"`{field}` is missing.", MISSING_QUESTIONS[field].format(types=types))

    def sorted(self) -> list[Problem]:
        return sorted(self._by_field.values(), key=lambda p: FIELDS.index(p.field))


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _port(raw: Mapping[str, Any], field: str, problems: _Problems) -> Port | None:
    value = raw.get(field)
    if _absent(value):
        problems.missing(field)
        return None
    port, reason = resolve_port(str(value))
    if port is None:
        role = "loading" if field == "origin" else "destination"
        problems.add(
            field,
            f"Unknown {field} port: {reason}.",
            f"We could not identify the {role} port '{value}'. Which port did you mean? "
            + _PORT_QUESTION,
        )
    return port


def _text(raw: Mapping[str, Any], field: str, problems: _Problems, *, required: bool) -> str | None:
    value = raw.get(field)
    if _absent(value):
        if required:
            problems.missing(field)
        return None
    if not isinstance(value, str):
        problems.add(field, f"`{field}` must be text.", MISSING_QUESTIONS.get(field, ""))
        return None
    return " ".join(value.split())


def _date(
    raw: Mapping[str, Any], field: str, problems: _Problems, *, required: bool
) -> date | None:
    value = raw.get(field)
    if _absent(value):
        if required:
            problems.missing(field)
        return None
    parsed = parse_date(value)
    if parsed is None:
        question = MISSING_QUESTIONS.get(
            field,
            "By what date must the cargo arrive at the latest? Please give a date (YYYY-MM-DD).",
        )
        problems.add(field, f"'{value}' is not a date (expected YYYY-MM-DD).", question)
    return parsed


def _equipment(
    raw: Mapping[str, Any], problems: _Problems
) -> tuple[ContainerType | None, int | None]:
    ctype = None
    if _absent(raw.get("container_type")):
        problems.missing("container_type")
    else:
        ctype = resolve_container(raw["container_type"])
        if ctype is None:
            types = ", ".join(container_types())
            problems.add(
                "container_type",
                f"Unknown container type '{raw['container_type']}'.",
                f"We do not know the container type '{raw['container_type']}'. "
                f"Which one do you need ({types})?",
            )
    count = None
    if _absent(raw.get("containers")):
        problems.missing("containers")
    else:
        count = parse_int(raw["containers"])
        if count is None or not 1 <= count <= MAX_CONTAINERS:
            problems.add(
                "containers",
                f"'{raw['containers']}' is not a whole number of containers from 1 to "
                f"{MAX_CONTAINERS}.",
                f"How many containers do you need? Please give a whole number from 1 to "
                f"{MAX_CONTAINERS}; larger shipments are split into several bookings.",
            )
            count = None
    return ctype, count


def _weight(
    raw: Mapping[str, Any], ctype: ContainerType | None, count: int | None, problems: _Problems
) -> float | None:
    value = raw.get("cargo_weight_kg")
    if _absent(value):
        problems.missing("cargo_weight_kg")
        return None
    weight = parse_weight(value)
    if weight is None or weight <= 0:
        problems.add(
            "cargo_weight_kg",
            f"'{value}' is not a positive weight in kilograms.",
            MISSING_QUESTIONS["cargo_weight_kg"],
        )
        return None
    if ctype and count and weight / count > ctype.max_payload_kg:
        problems.add(
            "cargo_weight_kg",
            f"{weight / count:,.0f} kg per container exceeds the {ctype.code} maximum payload "
            f"of {ctype.max_payload_kg:,} kg.",
            f"The cargo is too heavy for {count} x {ctype.code} (at most "
            f"{ctype.max_payload_kg:,} kg each). Could you add containers or confirm the total "
            "gross weight?",
        )
    return weight


def _dangerous_goods(
    raw: Mapping[str, Any], problems: _Problems
) -> tuple[bool, str | None, str | None]:
    declared = None if _absent(raw.get("hazardous")) else parse_bool(raw["hazardous"])
    if not _absent(raw.get("hazardous")) and declared is None:
        problems.add(
            "hazardous",
            f"'{raw['hazardous']}' is not yes or no.",
            "Is the cargo classified as dangerous goods (yes or no)?",
        )
    has_details = not (_absent(raw.get("imo_class")) and _absent(raw.get("un_number")))
    if declared is False and has_details:
        problems.add(
            "hazardous",
            "Marked non-hazardous, but an IMO class or UN number was given.",
            "Is the cargo dangerous goods? You gave an IMO class or UN number but marked it as "
            "non-hazardous.",
        )
        return False, None, None
    # A class or UN number without the flag is treated as a DG declaration:
    # under-declaring dangerous goods is the expensive mistake.
    if not (declared or has_details):
        return False, None, None
    imo_class = un_number = None
    if _absent(raw.get("imo_class")):
        problems.missing("imo_class")
    elif (imo_class := parse_imo_class(raw["imo_class"])) is None:
        problems.add(
            "imo_class",
            f"'{raw['imo_class']}' is not an IMO class or division (1 to 9, e.g. 3 or 6.1).",
            MISSING_QUESTIONS["imo_class"],
        )
    if _absent(raw.get("un_number")):
        problems.missing("un_number")
    elif (un_number := parse_un_number(raw["un_number"])) is None:
        problems.add(
            "un_number",
            f"'{raw['un_number']}' is not a UN number (UN followed by four digits).",
            MISSING_QUESTIONS["un_number"],
        )
    entry = un_numbers().get(un_number or "")
    if entry and imo_class and entry.main_class != imo_class.split(".", 1)[0]:
        problems.add(
            "imo_class",
            f"{entry.un_number} ({entry.proper_shipping_name}) is class {entry.imo_class}, "
            f"not class {imo_class}.",
            f"{entry.un_number} is listed as class {entry.imo_class}, but class {imo_class} was "
            "declared. Which is correct?",
        )
    return True, imo_class, un_number


def normalize_request(raw: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse ``raw`` into the normalized request.

    Returns:
        ``(request, [])`` when the request is complete and consistent, else
        ``(None, problems)`` with at most one problem per field, in field order.
    """
    problems = _Problems()
    origin = _port(raw, "origin", problems)
    destination = _port(raw, "destination", problems)
    if origin and destination and origin == destination:
        problems.add(
            "destination",
            f"Origin and destination are both {origin.name} ({origin.locode}).",
            "Where should the cargo be delivered? The destination must differ from the "
            "loading port.",
        )
    ctype, count = _equipment(raw, problems)
    weight = _weight(raw, ctype, count, problems)
    commodity = _text(raw, "commodity", problems, required=True)
    hazardous, imo_class, un_number = _dangerous_goods(raw, problems)
    ready = _date(raw, "ready_date", problems, required=True)
    deadline = _date(raw, "deadline_date", problems, required=False)
    if ready and deadline and deadline <= ready:
        problems.add(
            "deadline_date",
            f"The arrival deadline {deadline} is not after the ready date {ready}.",
            "By what date must the cargo arrive at the latest? It must be after the ready date.",
        )
    shipper = _text(raw, "shipper", problems, required=True)
    consignee = _text(raw, "consignee", problems, required=False)
    found = problems.sorted()
    if found:
        return None, found
    assert origin and destination and ctype and count and weight and ready  # for type checkers
    return {
        "origin": origin.locode,
        "destination": destination.locode,
        "container_type": ctype.code,
        "containers": count,
        "cargo_weight_kg": round(weight, 1),
        "commodity": commodity,
        "hazardous": hazardous,
        "imo_class": imo_class,
        "un_number": un_number,
        "ready_date": ready.isoformat(),
        "deadline_date": deadline.isoformat() if deadline else None,
        "shipper": shipper,
        "consignee": consignee,
    }, []
