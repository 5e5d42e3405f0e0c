"""``DecodeError``, the one error every telemetry codec raises for a record it cannot decode.

It lives in this leaf module, which imports nothing of the package, so that the number rules,
the time rules and both codecs' parts can raise it without import cycles. Import it from
``rapp.telemetry.ranpm`` (or ``rapp.telemetry``), its public home; this module is a detail.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A record that cannot be decoded; ``reason`` is what goes into the dead-letter header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
