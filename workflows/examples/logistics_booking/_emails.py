"""Renders a booking request as the e-mail a shipper would write.

Every field present in the request appears in the text in a form the request
validator also accepts (port names, ``40' HC``, ``52,000 kg``), so an extractor
that reads the e-mail well recovers exactly the request's normalized form.  A
field missing from the request is missing from the e-mail too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date
from typing import Any

from .data import ports

CONTAINER_PHRASES = {
    "20GP": ("20' GP", "20ft dry", "20' standard", "20GP", "20DV"),
    "40GP": ("40' GP", "40ft dry", "40' standard", "40GP", "40DV"),
    "40HC": ("40' HC", "40ft high cube", "40' high cube", "40HC", "40HQ"),
    "20RF": ("20' reefer", "20ft reefer", "20RF"),
    "40RF": ("40' reefer", "40ft reefer", "40RF", "40' RH"),
    "45HC": ("45' HC", "45ft high cube", "45HC"),
}
PEOPLE = (
    "Li Wei", "Anna Schmidt", "Carlos Mendes", "Priya Nair", "Kim Min-jun", "Sofia Rossi",
    "James Walker", "Nguyen Thi Lan", "Ahmed Al-Farsi", "Maria Santos", "Jan de Vries",
    "Chen Yu-ting",
)  # fmt: skip


def _port(value: str, rng: random.Random) -> str:
    port = ports().get(value)
    if port is None:  # an unserved port a shipper named: keep their words
        return value
    return rng.choice(
        [port.name, port.name, f"{port.name} ({port.locode})", port.locode, f"Port of {port.name}"]
    )


def _date(value: date, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return value.isoformat()
    if style == 1:
        return f"{value.day} {value:%B %Y}"
    return f"{value:%B} {value.day}, {value.year}"


def _weight(kg: float, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return f"{kg:,.0f} kg"
    if style == 1:
        return f"{kg:.0f} kgs"
    return f"{kg / 1000:g} t"


def _equipment(f: Mapping[str, Any], rng: random.Random) -> str:
    count, ctype = f.get("containers"), f.get("container_type")
    phrase = rng.choice(CONTAINER_PHRASES[ctype]) if ctype in CONTAINER_PHRASES else ctype
    if count is not None and phrase is not None:
        return rng.choice([f"{count} x {phrase}", f"{count} x {phrase} containers"])
    if count is not None:
        return f"{count} containers"
    return f"some {phrase} containers"


def _route(f: Mapping[str, Any], rng: random.Random) -> str:
    parts = []
    if f.get("origin"):
        parts.append(f"from {_port(f['origin'], rng)}")
    if f.get("destination"):
        parts.append(f"to {_port(f['destination'], rng)}")
    return " ".join(parts)


def _opening(f: Mapping[str, Any], rng: random.Random) -> str:
    what = " ".join(p for p in (_equipment(f, rng), _route(f, rng)) if p)
    return rng.choice(
        [
            f"We need {what}.",
            f"Please quote {what}.",
            f"Could you book {what} for us?",
            f"We would like to ship {what}.",
        ]
    )


def _cargo(f: Mapping[str, Any], rng: random.Random) -> str:
    commodity, kg = f.get("commodity"), f.get("cargo_weight_kg")
    if commodity and kg:
        weight = _weight(kg, rng)
        return rng.choice(
            [
                f"Cargo is {commodity}, total gross weight {weight}.",
                f"Commodity: {commodity}. Total weight {weight}.",
                f"The containers will carry {commodity}, {weight} in total.",
            ]
        )
    if commodity:
        return f"Cargo is {commodity}."
    if kg:
        return f"Total gross weight is {_weight(kg, rng)}."
    return ""


def _dangerous_goods(f: Mapping[str, Any], rng: random.Random) -> str:
    if not f.get("hazardous"):
        return rng.choice(["Non-hazardous cargo.", "No dangerous goods.", "", ""])
    cls, un = f.get("imo_class"), f.get("un_number")
    if cls and un:
        return rng.choice(
            [
                f"Please note this is dangerous goods: IMO class {cls}, {un}.",
                f"DG cargo - class {cls}, {un}.",
                f"The cargo is hazardous ({un}, IMO class {cls}).",
            ]
        )
    if cls:
        return f"It is dangerous goods, IMO class {cls}; the UN number will follow."
    return f"It is dangerous goods ({un}); we will confirm the IMO class."


def _dates(f: Mapping[str, Any], rng: random.Random) -> list[str]:
    out = []
    if f.get("ready_date"):
        d = _date(f["ready_date"], rng)
        out.append(
            rng.choice(
                [
                    f"Cargo will be ready on {d}.",
                    f"Cargo ready date is {d}.",
                    f"The goods can be loaded from {d}.",
                ]
            )
        )
    if f.get("deadline_date"):
        d = _date(f["deadline_date"], rng)
        out.append(
            rng.choice(
                [
                    f"It has to arrive by {d} at the latest.",
                    f"Latest arrival: {d}.",
                    f"Our customer needs it delivered by {d}.",
                ]
            )
        )
    return out


def render_email(fields: Mapping[str, Any], rng: random.Random) -> str:
    """An e-mail asking for the booking ``fields`` describes (dates as ``date`` objects)."""
    body = [_opening(fields, rng), _cargo(fields, rng), _dangerous_goods(fields, rng)]
    body += _dates(fields, rng)
    if fields.get("consignee"):
        consignee = fields["consignee"].rstrip(".")  # "S.p.A.." reads as a typo
        body.append(rng.choice([f"Consignee is {consignee}.", f"The goods are for {consignee}."]))
    body.append(rng.choice(["Thanks in advance.", "Please send us your best rates.", ""]))
    person = rng.choice(PEOPLE)
    sign = f"{person}\n{fields['shipper']}" if fields.get("shipper") else person
    greeting = rng.choice(["Hi,", "Hello,", "Dear booking team,", "Good morning,"])
    closing = rng.choice(["Best regards,", "Kind regards,", "Thanks,"])
    text = " ".join(s for s in body if s)
    return f"{greeting}\n\n{text}\n\n{closing}\n{sign}"
