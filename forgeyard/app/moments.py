"""Points in time as an operator types them: an age (``2h``, ``3d``) or an ISO date/time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, option: str, *, now: datetime | None = None) -> datetime:
    """``2h`` → two hours before ``now``; ``2026-11-03`` or ``2026-11-03T09:00`` → that time.

    A date or time without an offset is UTC.

    Raises:
        ValueError: naming ``option``, with the forms it takes.
    """
    text = text.strip()
    age = _AGE.fullmatch(text)
    if age:
        amount, unit = age.groups()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{option}: `{text}` is neither an age (30m, 2h, 3d, 1w) "
            "nor an ISO date or time (2026-11-03, 2026-11-03T09:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
