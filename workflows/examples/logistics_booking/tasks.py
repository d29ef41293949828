"""Seeded booking tasks with their ground truth, for evaluation and training.

A task is what one run receives (a structured request or a shipper's e-mail)
and what a perfect run would conclude.  The ground truth is computed with the
desk's own tools, so it always agrees with the data files::

    tasks = generate_tasks(1000, seed=7)
    to_jsonl(tasks, "tasks.jsonl")
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from ._emails import CONTAINER_PHRASES, render_email
from ._quote import offers
from ._vocab import CONSIGNEES, DRY_GOODS, REEFER_GOODS, SHIPPERS, UNSERVED_PORTS
from .data import container_types, ports, sanctions, un_numbers
from .tools import quote, screen, validate_request

__all__ = ["SCENARIOS", "BookingTask", "Expected", "from_jsonl", "generate_tasks", "to_jsonl"]

SCENARIOS = ("standard", "invalid", "denied", "hazardous")

# Ready dates span the Q3/Q4 peak season, the year-end rush and Chinese New Year,
# so the week-of-year surcharges all show up.
_FIRST_READY = date(2026, 9, 7)
_READY_SPAN_DAYS = 168
_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50)
_COUNT_WEIGHTS = (14, 16, 12, 10, 8, 6, 5, 5, 4, 3, 3, 2, 2, 1, 1)
# No 45HC: the workflow's extraction schema cannot name it, so a free-text
# task asking for one could not be solved.
_TYPE_WEIGHTS = {"40HC": 6, "40GP": 3, "20GP": 4, "40RF": 1, "20RF": 1}
_REQUIRED = (
    "origin", "destination", "container_type", "containers", "cargo_weight_kg", "commodity",
    "ready_date", "shipper",
)  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """What a perfect run concludes for a task."""

    valid: bool
    problem_fields: tuple[str, ...]
    request: dict[str, Any] | None
    quote_ids: tuple[str, ...]
    eligible_quote_ids: tuple[str, ...]
    best_quote_id: str | None  # cheapest eligible quote that meets the deadline
    best_price_usd: int | None
    # The workflow's choice rule: the best quote, else the eligible one arriving first.
    choice_quote_id: str | None
    choice_price_usd: int | None
    cleared: bool | None  # None when the request is not valid (never screened)
    hazardous: bool

    def needs_approval(self, threshold_usd: float) -> bool:
        """Whether booking the chosen quote needs a human: hazardous, or priced above it."""
        if self.choice_price_usd is None:
            return False
        return self.hazardous or self.choice_price_usd > threshold_usd


@dataclass(frozen=True)
class BookingTask:
    task_id: str
    scenario: str  # one of SCENARIOS
    input: dict[str, Any]  # {"request": {...}} or {"text": "..."}
    expected: Expected

    @property
    def free_text(self) -> bool:
        return "text" in self.input

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BookingTask:
        e = dict(raw["expected"])
        for name in ("problem_fields", "quote_ids", "eligible_quote_ids"):
            e[name] = tuple(e[name])
        return cls(raw["task_id"], raw["scenario"], raw["input"], Expected(**e))


@cache
def _lanes() -> tuple[tuple[tuple[str, str, tuple[str, ...]], ...], ...]:
    """Served ``(origin, destination, container types)``: (clean lanes, lanes into denied ports)."""
    policy = sanctions()
    denied_countries = {c.country for c in policy.countries}
    denied = {p.locode for p in policy.ports} | {
        p.locode for p in ports().values() if p.country in denied_countries
    }
    clean: list[tuple[str, str, tuple[str, ...]]] = []
    into_denied: list[tuple[str, str, tuple[str, ...]]] = []
    for o in ports():
        for d in ports():
            if o == d or o in denied:
                continue
            types = tuple(t for t in _TYPE_WEIGHTS if offers(o, d, t))
            if types:
                (into_denied if d in denied else clean).append((o, d, types))
    return tuple(clean), tuple(into_denied)


def _counts(n: int, shares: dict[str, float], rng: random.Random) -> list[str]:
    labels: list[str] = []
    for label, share in shares.items():
        labels += [label] * min(round(n * share), n - len(labels))
    labels += ["standard"] * (n - len(labels))
    rng.shuffle(labels)
    return labels


def _base_fields(rng: random.Random, scenario: str) -> dict[str, Any]:
    """A complete, consistent request (dates as ``date``), before any defect."""
    clean, into_denied = _lanes()
    denied_lane = scenario == "denied" and rng.random() < 0.6
    hazardous = scenario == "hazardous"
    lanes = into_denied if denied_lane else clean
    origin, destination, types = rng.choice(lanes)
    if hazardous:  # dangerous goods travel in dry boxes here
        types = tuple(t for t in types if not container_types()[t].reefer) or types
    ctype = rng.choices(types, weights=[_TYPE_WEIGHTS[t] for t in types])[0]
    spec = container_types()[ctype]
    count = rng.choices(_COUNTS, weights=_COUNT_WEIGHTS)[0]
    per_container = round(spec.max_payload_kg * rng.uniform(0.3, 0.92), -1)
    ready = _FIRST_READY + timedelta(days=rng.randrange(_READY_SPAN_DAYS))
    deadline = None
    if rng.random() < 0.55:
        # Relative to the lane's fastest transit, so deadlines range from
        # "only the next fast sailing makes it" to "anything will do".
        fastest = min(o.transit_days for o in offers(origin, destination, ctype))
        deadline = ready + timedelta(days=fastest + rng.randint(2, 28))
    o_region, d_region = ports()[origin].region, ports()[destination].region
    fields: dict[str, Any] = {
        "origin": origin,
        "destination": destination,
        "container_type": ctype,
        "containers": count,
        "cargo_weight_kg": int(per_container * count),
        "commodity": rng.choice(REEFER_GOODS if spec.reefer else DRY_GOODS),
        "hazardous": False,
        "ready_date": ready,
        "deadline_date": deadline,
        "shipper": rng.choice(SHIPPERS[o_region]),
        "consignee": rng.choice(CONSIGNEES[d_region]) if rng.random() < 0.8 else None,
    }
    if hazardous:
        entry = rng.choice(sorted(un_numbers().values(), key=lambda u: u.un_number))
        fields |= {
            "hazardous": True,
            "commodity": entry.commodity,
            "imo_class": entry.imo_class,
            "un_number": entry.un_number,
        }
    if scenario == "denied" and not denied_lane:
        party = rng.choice(sanctions().parties).name
        fields["consignee"] = party.replace("LLC", "L.L.C.") if rng.random() < 0.5 else party
    return fields


def _break(fields: dict[str, Any], rng: random.Random, free_text: bool) -> None:
    """Give an ``invalid`` task one realistic defect, in place."""
    defects = ["missing", "missing", "missing", "overweight", "unknown_port"]
    # Defects the extraction schema cannot express (over 50 boxes, an unknown
    # box type, a date order) would be lost in reading: structured only.
    if not free_text:
        defects += ["too_many", "bad_container", "deadline_before_ready"]
    defect = rng.choice(defects)
    if defect == "missing":
        del fields[rng.choice(_REQUIRED)]
    elif defect == "overweight":
        spec = container_types()[fields["container_type"]]
        fields["containers"] = min(fields["containers"], 30)  # stays under the schema's cap
        per_container = round(spec.max_payload_kg * rng.uniform(1.05, 1.4), -1)
        fields["cargo_weight_kg"] = int(per_container * fields["containers"])
    elif defect == "unknown_port":
        fields[rng.choice(["origin", "destination"])] = rng.choice(UNSERVED_PORTS)
    elif defect == "too_many":
        fields["containers"] = rng.randint(60, 120)
    elif defect == "bad_container":
        fields["container_type"] = rng.choice(["20' open top", "40' flat rack", "53' domestic"])
    else:
        fields["deadline_date"] = fields["ready_date"] - timedelta(days=rng.randint(1, 10))


def _as_structured(fields: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The request as an API client or web form would send it, with light variations."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None and rng.random() < 0.5:
            continue  # optional fields are sometimes null, sometimes left out
        if key in ("origin", "destination") and value in ports():
            value = rng.choice([value, value, value, value.lower(), ports()[value].name])
        elif key == "container_type" and value in CONTAINER_PHRASES and rng.random() < 0.3:
            value = rng.choice(CONTAINER_PHRASES[value])
        elif key in ("containers", "cargo_weight_kg") and rng.random() < 0.2:
            value = f"{value:,}" if key == "cargo_weight_kg" else str(value)
        elif key == "imo_class" and rng.random() < 0.3:
            value = f"Class {value}"
        elif key == "un_number" and rng.random() < 0.3:
            value = value.removeprefix("UN")
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def _expected(structured: dict[str, Any]) -> Expected:
    checked = validate_request(structured)
    if not checked["valid"]:
        hazardous = bool(structured.get("hazardous"))
        fields = tuple(p["field"] for p in checked["problems"])
        return Expected(False, fields, None, (), (), None, None, None, None, None, hazardous)
    request = checked["request"]
    quotes = quote(request)["quotes"]
    screened = screen(request, quotes)
    eligible = screened["eligible_quotes"]
    best = next((q for q in eligible if q["meets_deadline"]), None)
    first = min(eligible, key=lambda q: (q["eta"], q["price_usd"], q["quote_id"]), default=None)
    choice = best or first
    return Expected(
        valid=True,
        problem_fields=(),
        request=request,
        quote_ids=tuple(q["quote_id"] for q in quotes),
        eligible_quote_ids=tuple(screened["eligible_quote_ids"]),
        best_quote_id=best["quote_id"] if best else None,
        best_price_usd=best["price_usd"] if best else None,
        choice_quote_id=choice["quote_id"] if choice else None,
        choice_price_usd=choice["price_usd"] if choice else None,
        cleared=screened["cleared"],
        hazardous=request["hazardous"],
    )


def generate_tasks(
    n: int,
    seed: int = 0,
    *,
    free_text_share: float = 0.3,
    invalid_share: float = 0.1,
    denied_share: float = 0.05,
    hazardous_share: float = 0.15,
) -> list[BookingTask]:
    """``n`` booking tasks, the same ones for the same arguments.

    Args:
        n: Number of tasks.
        seed: Seed of the one ``random.Random`` everything is drawn from.
        free_text_share: Share of tasks given as a shipper's e-mail (``{"text": ...}``)
            instead of a structured request (``{"request": ...}``).
        invalid_share: Share with one defect (a missing field, an overweight box …).
        denied_share: Share that compliance must stop (denied port or consignee).
        hazardous_share: Share declaring dangerous goods (some of a forbidden class).

    Returns:
        The tasks; scenario counts are the shares times ``n``, rounded.

    Raises:
        ValueError: A share is outside [0, 1], or the scenario shares add up to more than 1.
    """
    shares = {"invalid": invalid_share, "denied": denied_share, "hazardous": hazardous_share}
    for name, share in {**shares, "free_text": free_text_share}.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"`{name}_share` must be between 0 and 1, got {share}.")
    if sum(shares.values()) > 1.0 + 1e-9:
        raise ValueError(
            "`invalid_share + denied_share + hazardous_share` must be at most 1, got "
            f"{sum(shares.values()):g}; lower one of them."
        )
    rng = random.Random(seed)
    scenarios = _counts(n, shares, rng)
    free_texts = _counts(n, {"text": free_text_share}, rng)
    tasks = []
    for i, (scenario, mode) in enumerate(zip(scenarios, free_texts, strict=True)):
        free_text = mode == "text"
        fields = _base_fields(rng, scenario)
        if scenario == "invalid":
            _break(fields, rng, free_text)
        structured = _as_structured(fields, rng)
        task_input = {"text": render_email(fields, rng)} if free_text else {"request": structured}
        tasks.append(BookingTask(f"lb-{seed}-{i:05d}", scenario, task_input, _expected(structured)))
    return tasks


def to_jsonl(tasks: Iterable[BookingTask], path: str | Path) -> None:
    """Write one task per line."""
    with Path(path).open("w", encoding="utf-8") as f:
        for task in tasks:
            f.write(json.dumps(task.to_dict(), ensure_ascii=False) + "\n")


def from_jsonl(path: str | Path) -> list[BookingTask]:
    """Read tasks written by :func:`to_jsonl`."""
    with Path(path).open(encoding="utf-8") as f:
        return [BookingTask.from_dict(json.loads(line)) for line in f if line.strip()]
