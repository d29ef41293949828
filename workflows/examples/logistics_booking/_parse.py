"""Parsers for the loose ways shippers write ports, boxes, weights, dates and DG data.

Each returns the parsed value, or None when the text cannot be read safely;
deciding what to ask the shipper is the validator's job.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from typing import Any

from .data import ContainerType, Port, container_types, dg_classes, ports


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


@cache
def _port_index() -> dict[str, str]:
    index = {}
    for port in ports().values():
        for name in (port.name, *port.aliases):
            index[_key(name)] = port.locode
    return index


def _strip_port_words(key: str) -> str:
    return re.sub(r"^port of |^the port of | port$", "", key)


def resolve_port(text: str) -> tuple[Port | None, str | None]:
    """The port ``text`` names (UN/LOCODE, name or alias), or why there is none.

    Returns:
        ``(port, None)`` on a match, ``(None, reason)`` when the text is unknown or
        could mean several ports.
    """
    known = ports()
    compact = re.sub(r"[^A-Za-z0-9]", "", text).upper()
    if compact in known:
        return known[compact], None
    # "Shanghai (CNSHA)": the code in brackets is the most precise thing written.
    for code in re.findall(r"\(([A-Za-z]{2}\s?[A-Za-z0-9]{3})\)", text):
        code = code.replace(" ", "").upper()
        if code in known:
            return known[code], None
    index = _port_index()
    key = _strip_port_words(_key(text))
    head = _strip_port_words(_key(text.split(",", 1)[0]))  # "Hamburg, Germany"
    for candidate in (key, head):
        if candidate in index:
            return known[index[candidate]], None
    # Last resort, a unique whole-word overlap: "Rotterdam Maasvlakte", "Ho Chi Minh".
    hits = set()
    if len(key) >= 3:
        hits = {
            code
            for name, code in index.items()
            if f" {name} " in f" {key} " or f" {key} " in f" {name} "
        }
    if len(hits) == 1:
        return known[hits.pop()], None
    if hits:
        options = ", ".join(f"{known[c].name} ({c})" for c in sorted(hits))
        return None, f"'{text}' could be {options}"
    return None, f"no port called '{text}' is served"


def resolve_container(text: Any) -> ContainerType | None:
    """The container type ``text`` names (``40HC``, ``40' HC``, ``40ft high cube`` …)."""
    key = re.sub(r"[^A-Z0-9]", "", str(text).upper())
    for noise in ("CONTAINERS", "CONTAINER", "FEET", "FOOT", "FT"):
        key = key.replace(noise, "")
    for ctype in container_types().values():
        if key in ctype.aliases:
            return ctype
    return None


def parse_int(value: Any) -> int | None:
    if isinstance(value, bool):  # bool is an int subclass; True containers is not 1
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None


# Commas only as thousands separators: "1,5 t" must not silently become 15 t.
_WEIGHT = re.compile(
    r"(\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(kg|kgs|kilos?|kilograms?|t|mt|tonnes?|metric tons?)?\.?",
    re.IGNORECASE,
)


def parse_weight(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _WEIGHT.fullmatch(value.strip())
    if m is None:
        return None
    number = float(re.sub(r"[, ]", "", m.group(1)))
    unit = (m.group(2) or "kg").lower()
    return number if unit.startswith("k") else number * 1000


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    for parse in (date.fromisoformat, lambda s: datetime.fromisoformat(s).date()):
        try:
            return parse(value.strip())
        except ValueError:
            continue
    return None


_YES = {"true", "yes", "y", "1", "dg", "hazardous", "dangerous"}
_NO = {"false", "no", "n", "0", "none", "non hazardous", "not hazardous"}


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    key = _key(str(value))
    return True if key in _YES else False if key in _NO else None


def parse_imo_class(value: Any) -> str | None:
    m = re.fullmatch(r"(?:imo\s*)?(?:class\s*)?(\d)(?:\.(\d))?", str(value).strip(), re.I)
    if m is None or m.group(1) not in dg_classes():
        return None
    if m.group(2) is None:
        return m.group(1)
    division = f"{m.group(1)}.{m.group(2)}"
    return division if division in dg_classes()[m.group(1)].divisions else None


def parse_un_number(value: Any) -> str | None:
    m = re.fullmatch(r"(?:un\s*)?(\d{4})", str(value).strip(), re.I)
    return f"UN{m.group(1)}" if m else None
