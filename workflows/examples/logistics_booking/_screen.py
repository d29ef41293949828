"""Compliance screening: may this shipment be booked at all, and on which quotes?

Two levels, as on a real booking desk: shipment-level rules (denied countries,
ports and parties, forbidden dangerous-goods classes) stop the whole booking;
carrier-level limits (a carrier refusing a DG class, no space on a sailing) only
remove the quotes they concern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._quote import capacity_shortfall
from .data import carriers, container_types, dg_classes, ports, sanctions

# Dropped before comparing party names, so "Golden Crescent Trading L.L.C."
# still matches the listed "Golden Crescent Trading LLC".
_LEGAL_FORMS = {
    "ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "fze", "fzco", "gmbh",
    "inc", "kg", "limited", "llc", "ltd", "nv", "ooo", "oy", "plc", "pte", "sa", "sarl",
    "spa", "srl",
}  # fmt: skip


def _party_words(name: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z0-9]+", name.casefold().replace(".", ""))
    return tuple(w for w in words if w not in _LEGAL_FORMS)


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def party_matches(name: str, listed: str) -> bool:
    """Whether the party ``name`` is the listed party ``listed`` (legal forms ignored)."""
    return _contains(_party_words(name), _party_words(listed))


def shipment_issues(request: Mapping[str, Any]) -> list[str]:
    """Shipment-level rules the request breaks; empty when it may be booked."""
    policy = sanctions()
    issues = []
    for role in ("origin", "destination"):
        port = ports()[request[role]]
        label = f"{role.capitalize()} port {port.locode} ({port.name})"
        for country in policy.countries:
            if country.country == port.country:
                issues.append(
                    f"{label} is in {country.name} ({country.country}), a denied country: "
                    f"{country.rule}."
                )
        for denied in policy.ports:
            if denied.locode == port.locode:
                issues.append(f"{label} is a denied port: {denied.rule}.")
    for role in ("shipper", "consignee"):
        name = request.get(role)
        if not name:
            continue
        for party in policy.parties:
            if party_matches(name, party.name):
                issues.append(
                    f"{role.capitalize()} '{name}' matches denied party '{party.name}' "
                    f"({party.id}): {party.rule}."
                )
    if request.get("hazardous") and request.get("imo_class"):
        cls = dg_classes()[str(request["imo_class"]).split(".", 1)[0]]
        if cls.forbidden:
            issues.append(
                f"IMO class {request['imo_class']} ({cls.name}) is not carried on these "
                f"services: {cls.forbidden_reason}."
            )
    return issues


def quote_rejection(request: Mapping[str, Any], quote: Mapping[str, Any]) -> str | None:
    """Why a carrier cannot take this quote's cargo, or None when it can."""
    carrier = carriers().get(str(quote.get("carrier")))
    if carrier is None:
        return f"unknown carrier `{quote.get('carrier')}`"
    reasons = []
    if request.get("hazardous") and request.get("imo_class"):
        main = str(request["imo_class"]).split(".", 1)[0]
        if main not in carrier.dg_classes:
            accepted = ", ".join(sorted(carrier.dg_classes)) or "none"
            reasons.append(
                f"{carrier.name} does not accept IMO class {main} cargo (accepts {accepted})"
            )
    service = next((s for s in carrier.services if s.code == quote.get("service")), None)
    ctype = container_types().get(str(quote.get("container_type")))
    if service is None or ctype is None:
        reasons.append(f"unknown service `{quote.get('service')}` of {carrier.code}")
    elif (shortfall := capacity_shortfall(service, ctype, int(request["containers"]))) is not None:
        reasons.append(f"no capacity: {shortfall}")
    return "; ".join(reasons) or None


def screen_request(request: Mapping[str, Any], quotes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Screen a normalized request and its quotes (see the ``logistics.screen`` tool)."""
    issues = shipment_issues(request)
    eligible: list[Mapping[str, Any]] = []
    rejected = []
    for quote in quotes:
        reason = "shipment not cleared by compliance screening" if issues else None
        reason = reason or quote_rejection(request, quote)
        if reason:
            rejected.append({"quote_id": quote.get("quote_id"), "reason": reason})
        else:
            eligible.append(dict(quote))
    return {
        "cleared": not issues,
        "hazardous": bool(request.get("hazardous")),
        "issues": issues,
        "eligible_quotes": eligible,
        "eligible_quote_ids": [q["quote_id"] for q in eligible],
        "rejected": rejected,
    }
