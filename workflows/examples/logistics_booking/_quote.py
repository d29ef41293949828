"""Prices the next sailings of every carrier serving a lane.

A quote's price per container is the contract rate (basic ocean freight + bunker
adjustment), plus the week-of-year surcharges of its sailing week (per TEU), plus
the dangerous-goods surcharge of the declared class.  Everything is a pure
function of the request and the files in ``data/``: the same request always
gets the same quotes, which is what makes runs replayable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .data import (
    Carrier,
    ContainerType,
    Port,
    Rate,
    Service,
    carriers,
    container_types,
    dg_classes,
    ports,
    rates,
    season_surcharges,
)

SAILINGS_PER_SERVICE = 3


@dataclass(frozen=True)
class Offer:
    """A carrier's routing and rate for one lane and container type, before dates."""

    carrier: Carrier
    service: Service
    departure_day: int
    arrival_day: int
    rate: Rate

    @property
    def transit_days(self) -> int:
        return self.arrival_day - self.departure_day


def find_rate(carrier: str, origin: Port, destination: Port, container_type: str) -> Rate | None:
    """The most specific rate: port-to-port beats port-to-region beats region-to-region."""
    table = rates()
    for o in (origin.locode, origin.region):
        for d in (destination.locode, destination.region):
            rate = table.get((carrier, o, d, container_type))
            if rate is not None:
                return rate
    return None


def offers(origin: str, destination: str, container_type: str) -> list[Offer]:
    """Each carrier's quickest priced routing from ``origin`` to ``destination``.

    One offer per carrier: a carrier quotes its best loop for a lane, which also
    keeps quote ids (carrier, week, container type) unique within a request.
    """
    o, d = ports()[origin], ports()[destination]
    out = []
    for carrier in carriers().values():
        rate = find_rate(carrier.code, o, d, container_type)
        if rate is None:
            continue
        routings = [
            (r[1] - r[0], service.code, service, r)
            for service in carrier.services
            if (o.region, d.region) in service.trades
            and (r := service.routing(origin, destination)) is not None
        ]
        if routings:
            _, _, service, (dep, arr) = min(routings, key=lambda x: (x[0], x[1]))
            out.append(Offer(carrier, service, dep, arr, rate))
    return out


def capacity_shortfall(service: Service, ctype: ContainerType, containers: int) -> str | None:
    """Why ``containers`` boxes do not fit one sailing of ``service``, or None if they do."""
    teu = ctype.teu * containers
    if teu > service.allocation_teu:
        return (
            f"needs {teu:g} TEU but service {service.code} has {service.allocation_teu} TEU "
            "allocated per sailing"
        )
    if ctype.reefer and containers > service.reefer_plugs:
        return (
            f"needs {containers} reefer plugs but service {service.code} has "
            f"{service.reefer_plugs} per sailing"
        )
    return None


def _first_departure(service: Service, departure_day: int, ready: date) -> date:
    # The loop starts every week on service.weekday, so the vessel always leaves
    # this port on the same weekday: the first such day on or after `ready`.
    weekday = (service.weekday + departure_day) % 7
    return ready + timedelta(days=(weekday - ready.weekday()) % 7)


def _charges(
    offer: Offer, origin: Port, destination: Port, ctype: ContainerType, week: int, dg: int
) -> list[dict[str, Any]]:
    charges = [
        {
            "code": "BAS",
            "description": "Basic ocean freight",
            "usd_per_container": offer.rate.base_usd,
        },
        {
            "code": "BAF",
            "description": "Bunker adjustment factor",
            "usd_per_container": offer.rate.baf_usd,
        },
    ]
    for s in season_surcharges():
        if s.applies(origin.region, destination.region, week):
            usd = round(s.usd_per_teu * ctype.teu)
            charges.append({"code": s.code, "description": s.description, "usd_per_container": usd})
    if dg:
        charges.append(
            {"code": "DGS", "description": "Dangerous goods surcharge", "usd_per_container": dg}
        )
    return charges


def dg_surcharge(request: Mapping[str, Any]) -> int:
    """Per-container DG surcharge of the declared class (0 when not hazardous or forbidden)."""
    if not request.get("hazardous") or not request.get("imo_class"):
        return 0
    cls = dg_classes()[str(request["imo_class"]).split(".", 1)[0]]
    return cls.surcharge_usd_per_container or 0


def quotes_for(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Quotes for a normalized request, cheapest first (ties: earliest arrival)."""
    origin, destination = ports()[request["origin"]], ports()[request["destination"]]
    ctype = container_types()[request["container_type"]]
    count = int(request["containers"])
    ready = date.fromisoformat(request["ready_date"])
    deadline = (
        date.fromisoformat(request["deadline_date"]) if request.get("deadline_date") else None
    )
    dg = dg_surcharge(request)
    quotes = []
    for offer in offers(origin.locode, destination.locode, ctype.code):
        first = _first_departure(offer.service, offer.departure_day, ready)
        for k in range(SAILINGS_PER_SERVICE):
            etd = first + timedelta(weeks=k)
            eta = etd + timedelta(days=offer.transit_days)
            year, week, _ = etd.isocalendar()
            charges = _charges(offer, origin, destination, ctype, week, dg)
            per_container = sum(c["usd_per_container"] for c in charges)
            quotes.append(
                {
                    "quote_id": f"Q-{offer.carrier.code}-{year}W{week:02d}-{ctype.code}",
                    "carrier": offer.carrier.code,
                    "carrier_name": offer.carrier.name,
                    "service": offer.service.code,
                    "service_name": offer.service.name,
                    "origin": origin.locode,
                    "destination": destination.locode,
                    "container_type": ctype.code,
                    "containers": count,
                    "etd": etd.isoformat(),
                    "eta": eta.isoformat(),
                    "sailing_week": f"{year}-W{week:02d}",
                    "transit_days": offer.transit_days,
                    "charges": charges,
                    "price_per_container_usd": per_container,
                    "price_usd": per_container * count,
                    "capacity_ok": capacity_shortfall(offer.service, ctype, count) is None,
                    "meets_deadline": deadline is None or eta <= deadline,
                }
            )
    quotes.sort(key=lambda q: (q["price_usd"], q["eta"], q["quote_id"]))
    return quotes
