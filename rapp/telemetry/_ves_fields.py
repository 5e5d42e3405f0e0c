"""Typed reads of VES JSON fields, shared by the VES domain readers.

Each reader fails with a ``DecodeError`` that names the field's path (``where.key``), so that a
rejected event says exactly which field was wrong; the time readers return None instead, because
every caller has a fallback (another field, the receive time) and names both in its own error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rapp.telemetry.ranpm import DecodeError

_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z in microseconds
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z


def require_object(parent: Mapping, key: str, where: str) -> Mapping:
    """``parent[key]`` if it is a JSON object."""
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise DecodeError(f"{where}.{key} missing or not an object")
    return value


def require_str(parent: Mapping, key: str, where: str) -> str:
    """``parent[key]`` if it is a non-empty string."""
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise DecodeError(f"{where}.{key} missing or not a non-empty string")
    return value


def optional_str(parent: Mapping, key: str, where: str) -> str:
    """``parent[key]``, or ``""`` when absent or null; any other non-string is an error."""
    value = parent.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where}.{key} is {type(value).__name__}, expected a string")
    return value


def number(value: Any) -> float:
    """``value`` as a float if it is a JSON number (not a bool), else NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def epoch_us(value: Any) -> datetime | None:
    """Microseconds since the epoch (VES ``*EpochMicrosec``) if a number in 1990..2100."""
    us = number(value)
    if not (_US_MIN <= us <= _US_MAX):  # also False for NaN
        return None
    return datetime.fromtimestamp(int(us) // 1_000_000, UTC).replace(
        microsecond=int(us) % 1_000_000
    )


def iso_time(value: Any) -> datetime | None:
    """An ISO 8601 string as an aware UTC time (naive is taken as UTC), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def short(value: Any) -> str:
    """``repr(value)`` cut to 80 characters, for quoting untrusted input in an error."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
