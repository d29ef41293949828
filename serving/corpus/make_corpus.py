"""Regenerate ``freight.txt``: ocean-freight documents from templates.

Deterministic: the same script always writes the same bytes, so the corpus hash
recorded with every tiny model only changes when this file or the hand-written
text changes.  Run ``python -m serving.corpus.make_corpus`` after editing it and
commit the result.

Carriers, vessels, shippers and people are invented; ports, UN/LOCODEs, ISO
container codes, Incoterms and HS headings are real.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
OUTPUT = CORPUS_DIR / "freight.txt"
SEED = 20261123
DOCUMENTS = 400

# (UN/LOCODE, port name, country)
PORTS: list[tuple[str, str, str]] = [
    ("NLRTM", "Rotterdam", "Netherlands"),
    ("DEHAM", "Hamburg", "Germany"),
    ("DEBRV", "Bremerhaven", "Germany"),
    ("BEANR", "Antwerp", "Belgium"),
    ("GBFXT", "Felixstowe", "United Kingdom"),
    ("GBSOU", "Southampton", "United Kingdom"),
    ("FRLEH", "Le Havre", "France"),
    ("ESVLC", "Valencia", "Spain"),
    ("ESALG", "Algeciras", "Spain"),
    ("ITGOA", "Genoa", "Italy"),
    ("GRPIR", "Piraeus", "Greece"),
    ("PLGDN", "Gdansk", "Poland"),
    ("SEGOT", "Gothenburg", "Sweden"),
    ("TRMER", "Mersin", "Turkey"),
    ("MAPTM", "Tanger Med", "Morocco"),
    ("EGPSD", "Port Said", "Egypt"),
    ("AEJEA", "Jebel Ali", "United Arab Emirates"),
    ("INNSA", "Nhava Sheva", "India"),
    ("INMUN", "Mundra", "India"),
    ("LKCMB", "Colombo", "Sri Lanka"),
    ("SGSIN", "Singapore", "Singapore"),
    ("MYPKG", "Port Klang", "Malaysia"),
    ("MYTPP", "Tanjung Pelepas", "Malaysia"),
    ("THLCH", "Laem Chabang", "Thailand"),
    ("VNSGN", "Ho Chi Minh City", "Vietnam"),
    ("VNHPH", "Haiphong", "Vietnam"),
    ("CNSHA", "Shanghai", "China"),
    ("CNNGB", "Ningbo", "China"),
    ("CNYTN", "Yantian", "China"),
    ("CNTAO", "Qingdao", "China"),
    ("CNXMN", "Xiamen", "China"),
    ("HKHKG", "Hong Kong", "Hong Kong"),
    ("TWKHH", "Kaohsiung", "Taiwan"),
    ("KRPUS", "Busan", "South Korea"),
    ("JPTYO", "Tokyo", "Japan"),
    ("JPYOK", "Yokohama", "Japan"),
    ("AUSYD", "Sydney", "Australia"),
    ("AUMEL", "Melbourne", "Australia"),
    ("NZAKL", "Auckland", "New Zealand"),
    ("USLAX", "Los Angeles", "United States"),
    ("USLGB", "Long Beach", "United States"),
    ("USOAK", "Oakland", "United States"),
    ("USSEA", "Seattle", "United States"),
    ("USNYC", "New York", "United States"),
    ("USSAV", "Savannah", "United States"),
    ("USHOU", "Houston", "United States"),
    ("CAVAN", "Vancouver", "Canada"),
    ("CAMTR", "Montreal", "Canada"),
    ("MXZLO", "Manzanillo", "Mexico"),
    ("PABLB", "Balboa", "Panama"),
    ("BRSSZ", "Santos", "Brazil"),
    ("CLSAI", "San Antonio", "Chile"),
    ("PECLL", "Callao", "Peru"),
    ("ZADUR", "Durban", "South Africa"),
    ("KEMBA", "Mombasa", "Kenya"),
]

# (size/type shorthand, ISO 6346 size-type code, description, max payload kg)
CONTAINERS: list[tuple[str, str, str, int]] = [
    ("20GP", "22G1", "20' general purpose dry container", 28200),
    ("40GP", "42G1", "40' general purpose dry container", 26700),
    ("40HC", "45G1", "40' high cube dry container", 26500),
    ("45HC", "L5G1", "45' high cube pallet-wide container", 27700),
    ("20RF", "22R1", "20' reefer container", 27400),
    ("40RH", "45R1", "40' high cube reefer container", 29000),
    ("20OT", "22U1", "20' open top container", 28100),
    ("40OT", "42U1", "40' open top container", 26600),
    ("20FR", "22P1", "20' flat rack with collapsible ends", 31000),
    ("40FR", "45P3", "40' flat rack with collapsible ends", 40000),
    ("20TK", "22T6", "20' tank container", 26000),
]

# (commodity, HS heading, needs reefer, IMO class or None)
COMMODITIES: list[tuple[str, str, bool, str | None]] = [
    ("household furniture", "9403", False, None),
    ("automotive spare parts", "8708", False, None),
    ("frozen tuna loins", "0303", True, None),
    ("fresh bananas", "0803", True, None),
    ("table grapes", "0806", True, None),
    ("chilled beef cuts", "0201", True, None),
    ("cotton T-shirts", "6109", False, None),
    ("laptop computers", "8471", False, None),
    ("passenger car tyres", "4011", False, None),
    ("packaging machinery", "8422", False, None),
    ("bottled red wine", "2204", False, None),
    ("green coffee beans", "0901", False, None),
    ("ceramic floor tiles", "6907", False, None),
    ("steel coils", "7208", False, None),
    ("polyethylene resin", "3901", False, None),
    ("paint and varnish", "3208", False, "3"),
    ("lithium ion batteries", "8507", False, "9"),
    ("sodium hydroxide solution", "2815", False, "8"),
    ("LED lighting fixtures", "9405", False, None),
    ("frozen shrimp", "0306", True, None),
    ("wooden toys", "9503", False, None),
    ("solar panels", "8541", False, None),
    ("olive oil", "1509", False, None),
    ("paper pulp", "4703", False, None),
]

CARRIERS = [
    ("Northwind Container Line", "NWCL"),
    ("Bluewater Ocean Carriers", "BWOC"),
    ("Meridian Shipping", "MRDN"),
    ("Harbor Star Lines", "HSTL"),
    ("Tidewater Express", "TDWX"),
    ("Coral Bay Container Services", "CBCS"),
]
VESSEL_WORDS = (
    "Aurora",
    "Borealis",
    "Meridian",
    "Horizon",
    "Tide",
    "Voyager",
    "Pioneer",
    "Cygnus",
    "Atlas",
    "Orion",
    "Lyra",
    "Vega",
    "Polaris",
    "Sirius",
    "Halcyon",
    "Endeavour",
)
VESSEL_PREFIXES = ("Nordic", "Pacific", "Atlantic", "Ocean", "Cape", "Star", "Coral", "Silver")
SHIPPERS = [
    "Hanseatic Home Goods GmbH",
    "Lotus Garments Ltd",
    "Pampas Fresh Exports S.A.",
    "Kestrel Auto Components",
    "Dragon Gate Electronics Co., Ltd",
    "Iberia Ceramica S.L.",
    "Andes Coffee Traders",
    "Baltic Timber & Toys Sp. z o.o.",
    "Sunrise Solar Manufacturing",
    "Mekong Seafood JSC",
    "Tasman Wine Estates",
    "Northline Machinery AB",
    "Cedar Polymers Inc.",
    "Valparaiso Fruit Co.",
    "Gulf Chemicals FZE",
]
CONSIGNEES = [
    "Brightwater Retail Inc.",
    "Continental Parts Distribution",
    "FreshMart Supermarkets",
    "Harbourside Imports Pty Ltd",
    "Keystone Electronics LLC",
    "Maple Leaf Furnishings",
    "Riverside Food Service",
    "Summit Building Supplies",
    "Westfield Apparel Group",
    "Oakridge Industrial Supply",
    "Lakeshore Beverage Co.",
    "Pinecrest Trading GmbH",
]
PEOPLE = [
    "Anna Schmidt",
    "Rahul Mehta",
    "Li Wei",
    "Maria Gonzalez",
    "Tom Becker",
    "Yuki Tanaka",
    "Fatima Al-Sayed",
    "John Carter",
    "Sofia Rossi",
    "Pieter de Vries",
    "Chen Jing",
    "Olga Nowak",
    "Daniel Okafor",
    "Emma Lindqvist",
    "Carlos Silva",
    "Priya Nair",
]
INCOTERMS = ["FOB", "CIF", "CFR", "EXW", "FCA", "DAP", "DDP", "CPT"]
CURRENCIES = ["USD", "EUR"]
BL_KINDS = ["original, 3/3 originals", "sea waybill", "telex release"]


class _Voyage:
    """A random but internally consistent shipment, shared by the templates."""

    def __init__(self, rng: random.Random) -> None:
        self.pol, self.pod = rng.sample(PORTS, 2)
        self.commodity, self.hs, reefer, self.imo = rng.choice(COMMODITIES)
        choices = [c for c in CONTAINERS if (c[0][2:] in ("RF", "RH")) == reefer]
        if not reefer and self.imo is None:
            choices = [c for c in choices if c[0] != "20TK"]
        self.ctype, self.iso, self.cdesc, self.payload = rng.choice(choices)
        self.qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 6, 8, 10])
        self.weight = rng.randrange(4000, min(self.payload, 24000), 50)
        self.volume = round(rng.uniform(18, 76), 1)
        self.packages = rng.randrange(20, 1400)
        self.package_kind = rng.choice(["cartons", "pallets", "crates", "bags", "drums", "bundles"])
        self.temperature = rng.choice([-25, -18, -1, 0, 2, 4, 13]) if reefer else None
        self.carrier, self.scac = rng.choice(CARRIERS)
        self.vessel = f"{rng.choice(VESSEL_PREFIXES)} {rng.choice(VESSEL_WORDS)}"
        self.voyage = f"{rng.randrange(1, 99):03d}{rng.choice('EWNS')}"
        self.shipper = rng.choice(SHIPPERS)
        self.consignee = rng.choice(CONSIGNEES)
        self.sender, self.agent = rng.sample(PEOPLE, 2)
        self.incoterm = rng.choice(INCOTERMS)
        # Under these terms the seller books and pays the main carriage.
        self.seller_pays_freight = self.incoterm in ("CIF", "CFR", "DAP", "DDP", "CPT")
        self.currency = rng.choice(CURRENCIES)
        self.booking = f"{self.scac[:2]}{rng.randrange(10_000_000, 99_999_999)}"
        self.reference = f"PO-{rng.randrange(100000, 999999)}"
        self.etd = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 330))
        self.transit = rng.randrange(9, 46)
        self.eta = self.etd + timedelta(days=self.transit)
        self.cutoff = self.etd - timedelta(days=rng.choice([2, 3, 4]))
        self.container_no = f"{self.scac[:3]}U{rng.randrange(1_000_000, 9_999_999)}"
        self.seal = f"SL{rng.randrange(100000, 999999)}"
        self.rate = rng.randrange(650, 5200, 25)
        self.free_days = rng.choice([5, 7, 10, 14])

    def port(self, which: str) -> str:
        code, name, country = self.pol if which == "pol" else self.pod
        return f"{name}, {country} ({code})"

    def cargo_line(self) -> str:
        text = f"{self.qty} x {self.ctype} ({self.iso}) {self.commodity}, HS {self.hs}"
        if self.temperature is not None:
            text += f", set temperature {self.temperature:+d} °C, vents closed"
        if self.imo:
            text += f", IMO class {self.imo} dangerous goods"
        return text


def _booking_request(v: _Voyage, rng: random.Random) -> str:
    greeting = rng.choice(["Dear team", "Hello", "Good morning", "Hi Booking Desk"])
    ask = rng.choice(
        [
            "please book the following shipment",
            "we would like to request space for the cargo below",
            "kindly confirm space and rates for this booking",
            "could you please arrange the following booking",
        ]
    )
    lines = [
        f"Subject: Booking request {v.reference} – {v.pol[1]} to {v.pod[1]}",
        "",
        f"{greeting},",
        "",
        f"On behalf of {v.shipper}, {ask}:",
        "",
        f"Port of loading: {v.port('pol')}",
        f"Port of discharge: {v.port('pod')}",
        f"Equipment: {v.qty} x {v.ctype} – {v.cdesc}",
        f"Commodity: {v.commodity} (HS {v.hs})",
        f"Cargo: {v.packages} {v.package_kind}, gross weight {v.weight:,} kg per container, "
        f"about {v.volume} cbm",
        f"Incoterm: {v.incoterm} {v.pod[1] if v.seller_pays_freight else v.pol[1]}",
        f"Cargo ready date: {v.etd - timedelta(days=rng.randrange(4, 9)):%d %b %Y}",
        f"Requested sailing: week {v.etd.isocalendar().week}, ETD around {v.etd:%d %B %Y}",
    ]
    if v.temperature is not None:
        lines.append(f"Reefer setting: {v.temperature:+d} °C, humidity off, ventilation closed")
    if v.imo:
        lines.append(f"Dangerous goods: IMO class {v.imo}; DG declaration and MSDS attached")
    lines += [
        f"Consignee: {v.consignee}",
        "",
        rng.choice(
            [
                "Please advise the earliest available sailing and the cut-off times.",
                "Let us know if a transshipment is needed and what the transit time is.",
                "We need the booking confirmation by Friday to arrange trucking.",
                "Please quote all-in including THC at origin and destination.",
            ]
        ),
        "",
        f"Best regards,\n{v.sender}\n{v.shipper}",
    ]
    return "\n".join(lines)


def _booking_confirmation(v: _Voyage, rng: random.Random) -> str:
    return "\n".join(
        [
            f"BOOKING CONFIRMATION {v.booking}",
            f"Carrier: {v.carrier} (SCAC {v.scac})",
            f"Customer reference: {v.reference}",
            f"Vessel / voyage: {v.vessel} {v.voyage}",
            f"Place of receipt: {v.port('pol')}",
            f"Port of loading: {v.pol[0]}  ETD {v.etd:%Y-%m-%d}",
            f"Port of discharge: {v.pod[0]}  ETA {v.eta:%Y-%m-%d}",
            f"Equipment: {v.cargo_line()}",
            f"Documentation cut-off: {v.cutoff - timedelta(days=1):%Y-%m-%d} 12:00",
            f"VGM cut-off: {v.cutoff:%Y-%m-%d} 17:00",
            f"Port (CY) cut-off: {v.cutoff:%Y-%m-%d} 23:59",
            f"Free time at destination: {v.free_days} days combined demurrage and detention",
            "",
            rng.choice(
                [
                    "Empty containers can be picked up from the depot two days before the cut-off.",
                    "Please submit shipping instructions before the documentation cut-off.",
                    "Late gate-in requests are subject to terminal approval and extra charges.",
                    "Rates are subject to the tariff in force at the time of shipment.",
                ]
            ),
        ]
    )


def _rollover_notice(v: _Voyage, rng: random.Random) -> str:
    new_etd = v.etd + timedelta(days=7)
    reason = rng.choice(
        [
            "port congestion at the transshipment hub",
            "a blank sailing announced by the alliance",
            "overbooking on the original vessel",
            "bad weather delaying the vessel's arrival",
        ]
    )
    return (
        f"Dear {v.sender},\n\nPlease note that booking {v.booking} ({v.qty} x {v.ctype}, "
        f"{v.pol[0]} to {v.pod[0]}) has been rolled from {v.vessel} {v.voyage} to the next "
        f"sailing on {new_etd:%d %b %Y} because of {reason}. The new ETA at {v.pod[1]} is "
        f"{new_etd + timedelta(days=v.transit):%d %b %Y}. The cut-off moves accordingly; "
        f"no action is needed if the cargo is already gated in.\n\n"
        f"We apologise for the inconvenience.\n{v.agent}\n{v.carrier} customer service"
    )


def _shipping_instructions(v: _Voyage, rng: random.Random) -> str:
    tare = rng.randrange(2150, 4800, 10)
    return "\n".join(
        [
            f"SHIPPING INSTRUCTIONS – booking {v.booking}",
            f"Shipper: {v.shipper}",
            f"Consignee: {v.consignee}",
            "Notify party: same as consignee",
            f"Port of loading: {v.port('pol')}",
            f"Port of discharge: {v.port('pod')}",
            f"Container: {v.container_no}  type {v.iso}  seal {v.seal}",
            f"Description of goods: {v.packages} {v.package_kind} {v.commodity}",
            f"HS code: {v.hs}",
            f"Gross weight: {v.weight:,} kg  Tare: {tare:,} kg  VGM: {v.weight + tare:,} kg",
            f"Measurement: {v.volume} m3",
            f"Freight terms: {'prepaid' if v.seller_pays_freight else 'collect'}",
            f"Bill of lading: {rng.choice(BL_KINDS)}",
        ]
    )


def _arrival_notice(v: _Voyage, rng: random.Random) -> str:
    return (
        f"ARRIVAL NOTICE\nB/L {v.scac}{v.booking[2:]} – vessel {v.vessel} voyage {v.voyage} is "
        f"expected at {v.port('pod')} on {v.eta:%A, %d %B %Y}. Container {v.container_no} "
        f"({v.ctype}) with {v.commodity}. Free time is {v.free_days} days from discharge; "
        f"demurrage after that is charged at {v.currency} {rng.choice([75, 95, 120, 150])} per "
        f"container per day. Please arrange customs clearance and present the original bill "
        f"of lading or confirm the telex release before collecting the cargo."
    )


def _rate_quote(v: _Voyage, rng: random.Random) -> str:
    baf = rng.randrange(150, 900, 5)
    thc_o = rng.randrange(90, 320, 5)
    thc_d = rng.randrange(110, 380, 5)
    total = v.rate + baf + thc_o + thc_d
    return "\n".join(
        [
            f"Quotation {v.pol[0]}-{v.pod[0]} valid until {v.etd + timedelta(days=30):%d %b %Y}",
            f"Service: {v.carrier}, direct call, transit about {v.transit} days",
            f"Ocean freight per {v.ctype}: {v.currency} {v.rate:,}",
            f"Bunker adjustment factor (BAF): {v.currency} {baf}",
            f"Origin THC: {v.currency} {thc_o}",
            f"Destination THC: {v.currency} {thc_d}",
            f"All-in per container: {v.currency} {total:,}",
            "Subject to equipment and space availability at the time of booking.",
        ]
    )


def _chat(v: _Voyage, rng: random.Random) -> str:
    question = rng.choice(
        [
            f"What is the next sailing from {v.pol[1]} to {v.pod[1]}?",
            f"Can I still gate in a {v.ctype} for booking {v.booking}?",
            f"How long is the transit time from {v.pol[0]} to {v.pod[0]}?",
            f"Is there space for {v.qty} x {v.ctype} next week from {v.pol[1]}?",
        ]
    )
    answer = rng.choice(
        [
            f"The next sailing is {v.vessel} {v.voyage}, departing {v.etd:%d %b} and arriving "
            f"{v.eta:%d %b}, about {v.transit} days.",
            f"Yes, the port cut-off for that booking is {v.cutoff:%d %b} at 23:59, so there is "
            f"still time.",
            f"Transit time is around {v.transit} days on the direct service via {v.carrier}.",
            f"We have space for {v.qty} x {v.ctype} on {v.vessel}; shall I place the booking?",
        ]
    )
    return f"Customer: {question}\nAgent: {answer}"


def _json_record(v: _Voyage, rng: random.Random) -> str:
    record = {
        "booking_number": v.booking,
        "customer_reference": v.reference,
        "carrier": v.scac,
        "pol": v.pol[0],
        "pod": v.pod[0],
        "container_type": v.ctype,
        "iso_code": v.iso,
        "quantity": v.qty,
        "commodity": v.commodity,
        "hs_code": v.hs,
        "gross_weight_kg": v.weight,
        "etd": v.etd.isoformat(),
        "eta": v.eta.isoformat(),
        "incoterm": v.incoterm,
        "reefer_temperature_c": v.temperature,
        "dangerous_goods": v.imo is not None,
        "status": rng.choice(["requested", "confirmed", "rolled", "shipped", "cancelled"]),
    }
    return json.dumps(record, ensure_ascii=False, indent=rng.choice([None, 2]))


def _port_line(rng: random.Random) -> str:
    code, name, country = rng.choice(PORTS)
    return rng.choice(
        [
            f"{name} ({code}) is a container port in {country}.",
            f"UN/LOCODE {code} refers to {name}, {country}.",
            f"Cargo for {name} should be labelled with the port code {code}.",
        ]
    )


_TEMPLATES: list[Callable[[_Voyage, random.Random], str]] = [
    _booking_request,
    _booking_request,
    _booking_confirmation,
    _booking_confirmation,
    _rollover_notice,
    _shipping_instructions,
    _arrival_notice,
    _rate_quote,
    _chat,
    _json_record,
]


def generate(seed: int = SEED, documents: int = DOCUMENTS) -> str:
    """The corpus text for ``seed``: documents separated by blank lines."""
    rng = random.Random(seed)
    parts = []
    for _ in range(documents):
        voyage = _Voyage(rng)
        parts.append(rng.choice(_TEMPLATES)(voyage, rng))
        if rng.random() < 0.3:
            parts.append(_port_line(rng))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    text = generate()
    OUTPUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {OUTPUT} ({len(text.encode()):,} bytes)")


if __name__ == "__main__":
    main()
