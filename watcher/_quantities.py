"""Durations and sizes as the config files write them: ``"1h30m"``, ``"5MB"``, ``"1GiB"``.

Contract: ``parse_duration(value) -> timedelta`` and ``parse_size(value) -> int`` accept a
string with units or a plain non-negative number (seconds, bytes) and raise ``ValueError``
for anything else, quoting the value with ``watcher._yaml.show`` (so a value from ``${VAR}``
is shown by its source text). ``watcher.config`` re-exports both for the CLI and the other
stages; ``watcher._schema`` validates with them.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from watcher._yaml import show

__all__ = ["parse_duration", "parse_size"]

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)")
_NUMBER = re.compile(r"\s*\d+(?:\.\d+)?\s*")
# Decimal units as DESIGN.md writes them ("5MB" = 5,000,000 bytes), binary ones with "i".
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def parse_duration(value: str | int | float) -> timedelta:
    """``"30s"``, ``"10m"``, ``"6h"``, ``"1d"``, ``"1h30m"``, ``"1.5h"``, or a number of seconds.

    :raises ValueError: not a duration, or a negative one.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a duration: {show(value)}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"not a duration: {show(value)}")
        return timedelta(seconds=value)
    text = value.strip().lower()
    if _NUMBER.fullmatch(text):
        return timedelta(seconds=float(text))
    seconds = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        unit = _DURATION_UNITS.get(match.group(2))
        if match.start() != position or unit is None:
            break
        seconds += float(match.group(1)) * unit
        position = match.end()
    if position == 0 or position != len(text):
        raise ValueError(f"not a duration: {show(value)}")
    return timedelta(seconds=seconds)


def parse_size(value: str | int | float) -> int:
    """``"5MB"`` (decimal), ``"512KB"``, ``"1GiB"`` (binary), or a number of bytes.

    :raises ValueError: not a size, or a negative one.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a size: {show(value)}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"not a size: {show(value)}")
        return int(value)
    match = _SIZE.fullmatch(value.lower())
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"not a size: {show(value)}")
    return round(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
