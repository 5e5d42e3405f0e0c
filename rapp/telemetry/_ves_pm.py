"""O-RAN SC O-DU PM streaming (stndDefined ``o-ran-sc-du-hello-world-pm-streaming-oas3``) to
``PmBatch``: one PM row per ``data.measurements[]`` entry.

The stream names what it measured by YANG instance paths rather than 3GPP DNs, so most of this
module is a small reader of those paths (cell step, measurement type, sub-counter keys).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from rapp.domain import PmBatch
from rapp.telemetry._ves_fields import epoch_us, number, short
from rapp.telemetry.ranpm import DecodeError

PM_STREAMING_NAMESPACE = "o-ran-sc-du-hello-world-pm-streaming-oas3"

# The event shape follows o-ran-sc/nonrtric-rapp-ransliceassurance, smoversion/messages/
# stdVesMessage.go (StdDefinedMessage -> StndDefinedFields.Data: "granularity-period",
# "measurements"[] of {"measurement-type-instance-reference", "value", "unit"}), the template
# apexpolicyversion/SliceAssurance/events/StdDefinedEvent.json and the instance references made
# by smoversion/stub/simulator.go (getMeasTypeInstanceRef) and parsed by
# smoversion/internal/structures/sliceassurance.go (AddOrUpdateMetric).


def streaming_pm(header: Mapping, data: Mapping) -> PmBatch:
    """One PM row per ``data.measurements[]`` entry.

    Cell: the instance reference up to and including its ``cell[...]`` step, e.g.
    ``/o-ran-sc-du-hello-world:network-function/distributed-unit-functions[id='O-DU-1211']/
    cell[id='cell-1']`` (a YANG instance path; the stream carries no 3GPP DN). Counter: the
    ``performance-measurement-type`` without its ``(urn...)`` revision and module prefix, with
    the sub-counter keys that follow it, e.g. ``user-equipment-average-throughput-uplink
    {slice-differentiator=1,slice-service-type=1}``. Period end: ``lastEpochMicrosec``.
    Granularity: ``data.granularity-period`` (seconds) when positive, else ``lastEpochMicrosec -
    startEpochMicrosec``.
    """
    where = "stndDefinedFields.data"
    last = header.get("lastEpochMicrosec")
    end = epoch_us(last)
    if end is None:
        raise DecodeError(f"commonEventHeader.lastEpochMicrosec is {short(last)}, not a time")
    gran = data.get("granularity-period")
    if isinstance(gran, bool) or not isinstance(gran, int | float) or gran <= 0:
        start = header.get("startEpochMicrosec")
        span = number(last) - number(start) if epoch_us(start) is not None else math.nan
        if not span > 0:
            raise DecodeError(
                f"{where}.granularity-period is {short(gran)} and commonEventHeader "
                "start/lastEpochMicrosec give no positive interval"
            )
        gran = span / 1e6
    measurements = data.get("measurements")
    if not isinstance(measurements, list):
        raise DecodeError(f"{where}.measurements missing or not an array")
    cells: list[str] = []
    counters: list[str] = []
    values: list[float] = []
    for i, m in enumerate(measurements):
        mwhere = f"{where}.measurements[{i}]"
        if not isinstance(m, Mapping):
            raise DecodeError(f"{mwhere} is not an object")
        ref = m.get("measurement-type-instance-reference")
        if not isinstance(ref, str) or not ref:
            raise DecodeError(f"{mwhere}.measurement-type-instance-reference missing or empty")
        cell, counter = _parse_instance_reference(ref, mwhere)
        value = m.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"{mwhere}.value is {short(value)}, expected a number")
        x = float(value)
        if not math.isfinite(x):
            raise DecodeError(f"{mwhere}.value is not finite")
        cells.append(cell)
        counters.append(counter)
        values.append(x)
    return _pm_frame(cells, counters, values, end, round(gran))


_NAME = re.compile(r"[^/\[\]]+")


def _yang_steps(ref: str, where: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Split an instance path into (text of the path so far, node name, [(key, value)])."""
    steps: list[tuple[str, str, list[tuple[str, str]]]] = []
    i, n = 0, len(ref)
    while i < n:
        if ref[i] != "/":
            raise DecodeError(f"{where}: bad instance reference at {i}: {short(ref)}")
        m = _NAME.match(ref, i + 1)
        if m is None:
            raise DecodeError(f"{where}: empty node name at {i} in {short(ref)}")
        name, i = m.group(), m.end()
        predicates: list[tuple[str, str]] = []
        while i < n and ref[i] == "[":
            j, quote = i + 1, ""
            while j < n and (quote or ref[j] != "]"):
                if ref[j] in "'\"" and (not quote or ref[j] == quote):
                    quote = "" if quote else ref[j]
                j += 1
            if j >= n:
                raise DecodeError(f"{where}: unclosed '[' in {short(ref)}")
            key, eq, value = ref[i + 1 : j].partition("=")
            if not eq:
                raise DecodeError(f"{where}: predicate without '=' in {short(ref)}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            predicates.append((key.strip(), value))
            i = j + 1
        steps.append((ref[:i], name, predicates))
    return steps


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _parse_instance_reference(ref: str, where: str) -> tuple[str, str]:
    steps = _yang_steps(ref, where)
    cell = next((text for text, name, _ in steps if _local(name) == "cell"), None)
    if cell is None:
        raise DecodeError(f"{where}: no cell[...] step in {short(ref)}")
    mtype: str | None = None
    subs: list[str] = []
    for _, name, predicates in steps:
        if mtype is None:
            for key, value in predicates:
                if key == "performance-measurement-type" or (
                    key == "." and _local(name) == "performance-measurement-type"
                ):
                    mtype = value
            continue
        subs += [f"{_local(name) if k == '.' else k}={v}" for k, v in predicates]
    if not mtype:
        raise DecodeError(f"{where}: no performance-measurement-type in {short(ref)}")
    if mtype.startswith("(") and ")" in mtype:  # (urn:...?revision=...)name
        mtype = mtype[mtype.index(")") + 1 :]
    counter = _local(mtype) + ("{" + ",".join(subs) + "}" if subs else "")
    return cell, counter


def _pm_frame(
    cells: Sequence[str], counters: Sequence[str], values: Sequence[float], end: datetime, gran: int
) -> PmBatch:
    if not cells:
        return PmBatch.empty()
    n = len(cells)
    stamp = pd.Timestamp(end).as_unit("ns")
    return PmBatch(
        pd.DataFrame(
            {
                "cell": pd.Series(list(cells), dtype=object),
                "period_end": pd.Series([stamp] * n, dtype="datetime64[ns, UTC]"),
                "granularity_s": np.full(n, gran, dtype="int32"),
                "counter": pd.Series(list(counters), dtype=object),
                "value": np.asarray(values, dtype="float64"),
                "suspect": np.zeros(n, dtype=bool),
            }
        )
    )
