"""The period end of a ranpm report, from headers that converters get wrong.

The period end is ``lastEpochMicrosec`` only when it is a sane time (1990..2100) *and* within one
second of ``startEpochMicrosec + granularityPeriod``. Otherwise it is ``start + granularity``.
When the start is missing or insane but ``lastEpochMicrosec`` is sane, the period end is
``lastEpochMicrosec``. Both insane is a ``DecodeError``. "Sane" is tried in microseconds, then
milliseconds, then seconds, because converters mislabel the unit; the unit in which ``last -
start`` equals the granularity wins. See ``rapp.telemetry.ranpm`` for why.
"""

from __future__ import annotations

from typing import Any

from rapp.telemetry._ranpm_errors import DecodeError

_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z in microseconds
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_TOLERANCE_US = 1_000_000
_SCALES = (1, 1_000, 1_000_000)  # to microseconds from: micro-, milli-, plain seconds


def period_end(start: Any, last: Any, gran: int) -> int:
    """The period end in epoch microseconds, from the header's start and last epochs."""
    start_ok = isinstance(start, int) and not isinstance(start, bool)
    last_ok = isinstance(last, int) and not isinstance(last, bool)
    # the unit in which last - start equals the granularity is the one the sender meant
    for scale in _SCALES:
        if start_ok and last_ok and _sane(start * scale) and _sane(last * scale):
            expected = start * scale + gran * 1_000_000
            if abs(last * scale - expected) <= _TOLERANCE_US:
                return int(last * scale)
    for scale in _SCALES:
        if start_ok and _sane(start * scale):
            return int(start * scale + gran * 1_000_000)
    for scale in _SCALES:
        if last_ok and _sane(last * scale):
            return int(last * scale)
    raise DecodeError(f"no sane time: startEpochMicrosec={start!r}, lastEpochMicrosec={last!r}")


def _sane(us: int) -> bool:
    return _US_MIN <= us <= _US_MAX
