"""Checks a request the model read from free text against the text itself.

Screening can only refuse what the request says.  A model that leaves out what
the shipper wrote — "it continues to Bandar Abbas", "UN0336", "consignee Golden
Crescent Trading" — would launder a shipment past every later guard, so the
desk reads the message deterministically too: a denied port, country or party,
a UN number or an IMO class the message names but the request does not carry
becomes a question for the shipper (the run books nothing and a person reads
it).  It never guesses the other way: what the request does carry is screened
as usual.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from ._parse import parse_imo_class
from ._screen import party_matches
from .data import ports, sanctions

_UN_NUMBER = re.compile(r"\bUN\s?-?(\d{4})\b", re.IGNORECASE)
_IMO_CLASS = re.compile(r"\bclass\s+(\d(?:\.\d)?)\b", re.IGNORECASE)

# (field, message, question) for each thing the message says and the request leaves out.
Miss = tuple[str, str, str]


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", text.casefold().replace(".", "")))


def _mentions(haystack: tuple[str, ...], name: str) -> bool:
    needle = _words(name)
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


@cache
def _denied_places() -> tuple[tuple[str, tuple[str, ...], frozenset[str]], ...]:
    """(label, names the text may use, the locodes that carry it) for each denied place."""
    policy = sanctions()
    places: list[tuple[str, tuple[str, ...], frozenset[str]]] = []
    for country in policy.countries:
        locodes = frozenset(p.locode for p in ports().values() if p.country == country.country)
        places.append((country.name, (country.name,), locodes))
    denied_ports = {d.locode for d in policy.ports} | {
        p.locode for p in ports().values() if p.country in {c.country for c in policy.countries}
    }
    for locode in sorted(denied_ports):
        port = ports()[locode]
        places.append(
            (f"{port.name} ({locode})", (locode, port.name, *port.aliases), frozenset({locode}))
        )
    return tuple(places)


def ungrounded(text: str, request: dict[str, Any]) -> list[Miss]:
    """What ``text`` names that the normalized ``request`` leaves out (see the module docstring).

    Parties are compared with screening's own rule, so a party counts as carried
    exactly when screening would match it.
    """
    words = _words(text)
    misses: list[Miss] = []
    carried = {request["origin"], request["destination"]}
    for label, names, locodes in _denied_places():
        if any(_mentions(words, n) for n in names) and not carried & locodes:
            misses.append(
                (
                    "destination",
                    f"The message names {label}, which is denied, but the request does not "
                    "route through it.",
                    f"Your message mentions {label}. Does this shipment go to, from or via "
                    "it? We cannot book shipments involving it.",
                )
            )
    parties = [request.get("shipper") or "", request.get("consignee") or ""]
    for party in sanctions().parties:
        if _mentions(words, party.name) and not any(party_matches(p, party.name) for p in parties):
            misses.append(
                (
                    "consignee",
                    f"The message names {party.name}, a denied party, but the request does not.",
                    f"Your message mentions {party.name}. What is their role in this shipment?",
                )
            )
    un_numbers = {f"UN{m}" for m in _UN_NUMBER.findall(text)}
    if un_numbers - {request.get("un_number")}:
        listed = ", ".join(sorted(un_numbers))
        misses.append(
            (
                "un_number",
                f"The message names {listed}, but the request declares "
                f"{request.get('un_number') or 'no UN number'}.",
                f"Your message mentions {listed}. Which dangerous goods does the shipment contain?",
            )
        )
    classes = {parse_imo_class(m) for m in _IMO_CLASS.findall(text)} - {None}
    if classes - {request.get("imo_class")}:
        listed = ", ".join(sorted(c for c in classes if c))
        misses.append(
            (
                "imo_class",
                f"The message names IMO class {listed}, but the request declares "
                f"{request.get('imo_class') or 'no class'}.",
                f"Your message mentions IMO class {listed}. Which class is the cargo?",
            )
        )
    return misses
