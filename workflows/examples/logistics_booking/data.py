"""The booking desk's reference data, read from the files in ``data/``.

Every loader reads its file once per process and returns frozen records, so the
tools and the task generator see the same figures.  A file that refers to
something unknown (a rate for a port no one has heard of) raises ``ValueError``
naming the file and the row: reference data is code, and a typo in it should
fail loudly at import time rather than quietly drop a lane.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "Carrier",
    "ContainerType",
    "DeniedCountry",
    "DeniedParty",
    "DeniedPort",
    "DgClass",
    "Port",
    "PortCall",
    "Rate",
    "Sanctions",
    "SeasonSurcharge",
    "Service",
    "UnEntry",
    "carriers",
    "container_types",
    "dg_classes",
    "ports",
    "rates",
    "sanctions",
    "season_surcharges",
    "un_numbers",
]

DATA_DIR = Path(__file__).parent / "data"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Port:
    locode: str
    name: str
    country: str
    region: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerType:
    code: str
    iso_size_type: str
    description: str
    teu: float
    tare_kg: int
    max_payload_kg: int
    internal_volume_m3: float
    reefer: bool
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class PortCall:
    port: str
    day: int


@dataclass(frozen=True)
class Service:
    """A weekly liner service: the vessel leaves ``calls[0]`` every ``weekday``.

    ``trades`` are the ``(origin region, destination region)`` pairs the service
    sells; a loop also passes ports in other orders (Rotterdam → … → Singapore on
    an Asia–Europe loop's way home) without selling those legs.
    """

    code: str
    name: str
    weekday: int  # 0 = Monday, as date.weekday()
    trades: frozenset[tuple[str, str]]
    allocation_teu: int
    reefer_plugs: int
    calls: tuple[PortCall, ...]

    def routing(self, origin: str, destination: str) -> tuple[int, int] | None:
        """Day offsets ``(departure, arrival)`` of the quickest origin→destination leg.

        A loop can call a port twice (outbound and on the way back); the
        quickest leg is the one a carrier would quote.
        """
        best: tuple[int, int] | None = None
        for i, call in enumerate(self.calls):
            if call.port != origin:
                continue
            arrival = next((c.day for c in self.calls[i + 1 :] if c.port == destination), None)
            if arrival is not None and (best is None or arrival - call.day < best[1] - best[0]):
                best = (call.day, arrival)
        return best


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    country: str
    dg_classes: frozenset[str]
    services: tuple[Service, ...]


@dataclass(frozen=True)
class Rate:
    """All-year contract rate; ``origin``/``destination`` are a region or a UN/LOCODE."""

    carrier: str
    origin: str
    destination: str
    container_type: str
    base_usd: int
    baf_usd: int


@dataclass(frozen=True)
class SeasonSurcharge:
    """A per-TEU surcharge on sailings in ISO weeks ``week_from..week_to`` (inclusive)."""

    origin: str
    destination: str
    week_from: int
    week_to: int
    code: str
    usd_per_teu: int
    description: str

    def applies(self, origin_region: str, destination_region: str, week: int) -> bool:
        return (
            self.origin in ("*", origin_region)
            and self.destination in ("*", destination_region)
            and self.week_from <= week <= self.week_to
        )


@dataclass(frozen=True)
class DgClass:
    number: str
    name: str
    divisions: tuple[str, ...]
    forbidden: bool
    forbidden_reason: str | None
    surcharge_usd_per_container: int | None
    un_number_required: bool


@dataclass(frozen=True)
class UnEntry:
    un_number: str
    proper_shipping_name: str
    imo_class: str
    commodity: str

    @property
    def main_class(self) -> str:
        return self.imo_class.split(".", 1)[0]


@dataclass(frozen=True)
class DeniedCountry:
    country: str
    name: str
    rule: str


@dataclass(frozen=True)
class DeniedPort:
    locode: str
    rule: str


@dataclass(frozen=True)
class DeniedParty:
    id: str
    name: str
    country: str
    rule: str


@dataclass(frozen=True)
class Sanctions:
    policy: str
    countries: tuple[DeniedCountry, ...]
    ports: tuple[DeniedPort, ...]
    parties: tuple[DeniedParty, ...]


def _json(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _check(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ValueError(f"{DATA_DIR.name}/{where}: {what}")


@cache
def ports() -> dict[str, Port]:
    """Known ports by UN/LOCODE."""
    out = {}
    for i, row in enumerate(_csv("ports.csv"), start=2):
        aliases = tuple(a for a in row["aliases"].split("|") if a)
        _check(len(row["locode"]) == 5, f"ports.csv line {i}", "locode must have 5 characters")
        out[row["locode"]] = Port(
            row["locode"], row["name"], row["country"], row["region"], aliases
        )
    return out


@cache
def container_types() -> dict[str, ContainerType]:
    """ISO container types by code (``20GP``, ``40HC`` …)."""
    return {
        c["code"]: ContainerType(
            code=c["code"],
            iso_size_type=c["iso_size_type"],
            description=c["description"],
            teu=float(c["teu"]),
            tare_kg=int(c["tare_kg"]),
            max_payload_kg=int(c["max_payload_kg"]),
            internal_volume_m3=float(c["internal_volume_m3"]),
            reefer=bool(c["reefer"]),
            aliases=tuple(c["aliases"]),
        )
        for c in _json("containers.json")["container_types"]
    }


@cache
def carriers() -> dict[str, Carrier]:
    """Carriers by code, each with its weekly services."""
    known = ports()
    regions = {p.region for p in known.values()}
    out = {}
    for c in _json("carriers.json")["carriers"]:
        services = []
        for s in c["services"]:
            where = f"carriers.json {c['code']}/{s['code']}"
            calls = tuple(PortCall(call["port"], int(call["day"])) for call in s["calls"])
            for call in calls:
                _check(call.port in known, where, f"unknown port `{call.port}`")
            days = [call.day for call in calls]
            _check(days == sorted(days), where, "call days must increase")
            _check(s["weekday"] in WEEKDAYS, where, f"weekday must be one of {WEEKDAYS}")
            trades = frozenset(tuple(t.split(">")) for t in s["trades"])
            for trade in trades:
                _check(set(trade) <= regions, where, f"trade {trade} names an unknown region")
            services.append(
                Service(
                    code=s["code"],
                    name=s["name"],
                    weekday=WEEKDAYS.index(s["weekday"]),
                    trades=trades,  # type: ignore[arg-type]
                    allocation_teu=int(s["allocation_teu"]),
                    reefer_plugs=int(s["reefer_plugs"]),
                    calls=calls,
                )
            )
        out[c["code"]] = Carrier(
            c["code"], c["name"], c["country"], frozenset(c["dg_classes"]), tuple(services)
        )
    return out


@cache
def rates() -> dict[tuple[str, str, str, str], Rate]:
    """Rates keyed by ``(carrier, origin, destination, container_type)``."""
    places = {p.region for p in ports().values()} | set(ports())
    out = {}
    for i, row in enumerate(_csv("rates.csv"), start=2):
        where = f"rates.csv line {i}"
        _check(row["carrier"] in carriers(), where, f"unknown carrier `{row['carrier']}`")
        _check(row["origin"] in places, where, f"unknown region or port `{row['origin']}`")
        _check(
            row["destination"] in places, where, f"unknown region or port `{row['destination']}`"
        )
        _check(row["container_type"] in container_types(), where, "unknown container type")
        rate = Rate(
            row["carrier"],
            row["origin"],
            row["destination"],
            row["container_type"],
            int(row["base_usd"]),
            int(row["baf_usd"]),
        )
        key = (rate.carrier, rate.origin, rate.destination, rate.container_type)
        _check(key not in out, where, f"duplicate rate {key}")
        out[key] = rate
    return out


@cache
def season_surcharges() -> tuple[SeasonSurcharge, ...]:
    """Week-of-year surcharges (peak season, pre-Chinese-New-Year …)."""
    regions = {p.region for p in ports().values()} | {"*"}
    out = []
    for i, row in enumerate(_csv("season_surcharges.csv"), start=2):
        where = f"season_surcharges.csv line {i}"
        _check(row["origin"] in regions and row["destination"] in regions, where, "unknown region")
        s = SeasonSurcharge(
            row["origin"],
            row["destination"],
            int(row["week_from"]),
            int(row["week_to"]),
            row["code"],
            int(row["usd_per_teu"]),
            row["description"],
        )
        _check(
            1 <= s.week_from <= s.week_to <= 53, where, "weeks must satisfy 1 <= from <= to <= 53"
        )
        out.append(s)
    return tuple(out)


@cache
def dg_classes() -> dict[str, DgClass]:
    """IMO dangerous-goods classes by main class number (``"1"`` … ``"9"``)."""
    return {
        c["class"]: DgClass(
            number=c["class"],
            name=c["name"],
            divisions=tuple(c["divisions"]),
            forbidden=bool(c["forbidden"]),
            forbidden_reason=c["forbidden_reason"],
            surcharge_usd_per_container=c["surcharge_usd_per_container"],
            un_number_required=bool(c["un_number_required"]),
        )
        for c in _json("dangerous_goods.json")["classes"]
    }


@cache
def un_numbers() -> dict[str, UnEntry]:
    """The UN numbers the desk knows, by ``UNxxxx``; used to cross-check declared classes."""
    return {
        u["un_number"]: UnEntry(
            u["un_number"], u["proper_shipping_name"], u["class"], u["commodity"]
        )
        for u in _json("dangerous_goods.json")["un_numbers"]
    }


@cache
def sanctions() -> Sanctions:
    """Denied countries, ports and parties of the desk's compliance policy."""
    raw = _json("sanctions.json")
    for p in raw["denied_ports"]:
        _check(p["locode"] in ports(), "sanctions.json", f"unknown denied port `{p['locode']}`")
    return Sanctions(
        policy=raw["policy"],
        countries=tuple(DeniedCountry(**c) for c in raw["denied_countries"]),
        ports=tuple(DeniedPort(**p) for p in raw["denied_ports"]),
        parties=tuple(DeniedParty(**p) for p in raw["denied_parties"]),
    )
