"""Strict number rules for PM values, shared by the ranpm JSON and the PM XML codecs.

A value must be a plain decimal or scientific number (``12``, ``-0.5``, ``1.2e3``): no spaces,
underscores, ``nan`` or ``inf`` spellings, which Python's ``float`` would accept. An empty string
is "not available" (NaN). A comma-separated list of such numbers is a distribution (PDF) counter,
one value per bin. Anything else, and any non-finite number, is a ``DecodeError``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rapp.telemetry._ranpm_errors import DecodeError

# a plain decimal or scientific number; ASCII so that float()'s Unicode digits are refused too
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def plain_floats(raw: list[Any]) -> list[float]:
    """Fast path: every value one finite plain number. Falls back (returns []) on the first odd
    one (empty, a distribution, or an error), which ``parse_value`` then handles or reports."""
    match = NUMBER.fullmatch
    out: list[float] = []
    for v in raw:
        kind = type(v)
        if kind is str:
            if not match(v):
                return []
            x = float(v)
        elif kind is int or kind is float:  # not bool, which is an int subclass
            try:
                x = float(v)
            except OverflowError:
                return []
        else:
            return []
        if not math.isfinite(x):
            return []
        out.append(x)
    return out


def parse_value(v: Any, cell: str, counter: str) -> list[float]:
    """One value as its bins (one for a plain number or NaN, several for a distribution)."""
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise DecodeError(f"non-numeric value {v!r} for {counter} of {cell}")
    if isinstance(v, int | float):
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise DecodeError(f"non-finite value {v!r} for {counter} of {cell}")
        return [x]
    if not v:
        return [math.nan]
    texts = v.split(",")
    if not all(NUMBER.fullmatch(t) for t in texts):
        raise DecodeError(f"non-numeric sValue {v!r} for {counter} of {cell}")
    parts = [float(t) for t in texts]
    if any(math.isinf(x) for x in parts):
        raise DecodeError(f"infinite sValue {v!r} for {counter} of {cell}")
    return parts
