"""The one duration syntax of every command and file: '180d', '26w', '6mo', '1y' (secret lifetimes)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(d|days?|w|weeks?|mo|months?|y|years?)\s*$", re.I)


def parse_duration(value: str | None) -> timedelta | None:
    """'180d', '26w', '6mo', '1y' -> timedelta (months are 30 days, years 365); ValueError with the reason."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration; use e.g. 180d, 26w, 6mo or 1y")
    count, unit = int(match.group(1)), match.group(2).lower()
    days = {"d": 1, "w": 7, "m": 30, "y": 365}["m" if unit.startswith("mo") else unit[0]] * count
    if not 1 <= days <= 730:
        raise ValueError("secret lifetime must be between 1 day and 2 years (Entra's maximum)")
    return timedelta(days=days)
