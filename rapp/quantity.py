"""Kubernetes resource quantities (``5G``, ``2500M``, ``1.5Gi``): the unit of NF capacity.

Shared by the planner (which steps capacity along a ladder) and the package writer (which
reads and writes it in ``Capacity`` resources); exact decimal arithmetic, like Kubernetes.
"""

from __future__ import annotations

import re
from decimal import Decimal

_DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<bin>[KMGTPE]i)|(?P<exp>[eE][+-]?\d+)|(?P<dec>[mkMGTPE]?))$"
)


def parse_quantity(q: str) -> Decimal:
    """Value of a Kubernetes quantity (``5G``, ``1.5Gi``, ``500m``, ``1e3``, ``1000``)."""
    m = _QUANTITY.match(str(q).strip())
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {q!r}")
    num = Decimal(m["num"])
    if m["bin"]:
        return num * (Decimal(2) ** _BINARY[m["bin"]])
    if m["exp"]:
        return num.scaleb(int(m["exp"][1:]))
    return num.scaleb(_DECIMAL[m["dec"] or ""])


def format_quantity(value: Decimal | int, *, binary: bool = False) -> str:
    """Shortest exact quantity for ``value``: the largest suffix that keeps it an integer.

    ``binary`` picks Ki/Mi/... (memory style) over k/M/G (throughput style); like Kubernetes,
    values a binary suffix cannot express exactly fall back to decimal notation.
    """
    v = Decimal(value)
    if binary and v == v.to_integral_value() and v != 0:
        for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            scaled = v / (Decimal(2) ** power)
            if scaled == scaled.to_integral_value():
                return f"{int(scaled)}{suffix}"
    if v == 0:
        return "0"
    for suffix, exp in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
        scaled = v.scaleb(-exp)
        if scaled == scaled.to_integral_value():
            return f"{int(scaled)}{suffix}"
    return format(v.normalize(), "f")
