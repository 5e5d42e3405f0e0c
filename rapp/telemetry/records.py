"""Decoded telemetry as JSON lines, one per record: what `rapp decode` prints for operators."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from rapp.domain import PmBatch
from rapp.telemetry.sniff import Decoded


def pm_records(batch: PmBatch) -> Iterator[dict[str, Any]]:
    """One record per (cell, period end): its counters, granularity and suspect flag."""
    frame = batch.frame
    if frame.empty:
        return
    for (cell, end), rows in frame.groupby(["cell", "period_end"], sort=True):
        yield {
            "kind": "pm",
            "cell": cell,
            "period_end": end.isoformat(),
            "granularity_s": int(rows["granularity_s"].iloc[0]),
            "suspect": bool(rows["suspect"].any()),
            "counters": {
                c: (None if math.isnan(v) else v)
                for c, v in zip(rows["counter"], rows["value"].astype(float), strict=True)
            },
        }


def records(decoded: Decoded) -> Iterator[dict[str, Any]]:
    yield from pm_records(decoded.pm)
    for alarm in decoded.alarms:
        yield {"kind": "alarm", **alarm.to_dict()}
    for ready in decoded.files:
        yield {"kind": "file_ready", **ready.to_dict()}
