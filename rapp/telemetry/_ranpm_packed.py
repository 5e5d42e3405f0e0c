"""Decoded ranpm records in compact form, and ``Packed``, a batch of them before the DataFrame.

A record is kept as per-measValue runs (cell, row count, suspect flag) and counter codes into a
per-batch ``CounterTable`` where each measTypes list is stored once, so the columns of a whole
batch are built in bulk (one ``np.repeat`` per column) rather than row by row. ``Packed`` is also
what ``rapp.telemetry.pool`` workers pickle back: codes and runs are much cheaper to send than a
DataFrame.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import PmBatch
from rapp.telemetry._ranpm_reference import Columns


@dataclass(slots=True)
class Record:
    """One decoded record: per measValue (cell, row count, suspect, counter codes)."""

    cells: list[str]
    counts: list[int]
    suspect: list[bool]
    offs: list[int]
    """Per measValue: the counter-table offset of its measTypes when its rows are p = 1..n in
    order, else -1 and its codes are in ``explicit``."""
    explicit: dict[int, list[int]]
    raw: list[Any]
    """The values as sent (``sValue`` strings, or ``UNSET`` for iValue/rValue), one per row."""
    end_us: int
    gran: int
    values: list[float] | None = None
    """The final values (bins expanded), once known; None while only ``raw`` is."""


class CounterTable:
    """Counter names of a batch, each measTypes list stored once; rows refer to them by code."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._lists: dict[tuple[str, ...], int] = {}
        self._single: dict[str, int] = {}

    def offset(self, types: list[str]) -> int:
        key = tuple(types)
        off = self._lists.get(key)
        if off is None:
            off = self._lists[key] = len(self.names)
            self.names += types
        return off

    def code(self, name: str) -> int:
        code = self._single.get(name)
        if code is None:
            code = self._single[name] = len(self.names)
            self.names.append(name)
        return code


@dataclass(slots=True)
class Packed:
    """Decoded columns before they become a DataFrame: compact (codes, per-cell runs) and cheap
    to pickle, which is how ``rapp.telemetry.pool`` workers hand results back."""

    cells: list[str]
    counts: np.ndarray
    suspect: np.ndarray
    counter_names: list[str]
    codes: np.ndarray
    values: np.ndarray
    rec_rows: np.ndarray
    rec_end_us: np.ndarray
    rec_gran: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Packed]) -> Packed:
        if len(parts) == 1:
            return parts[0]
        shifted, base = [], 0
        for part in parts:
            shifted.append(part.codes + base)
            base += len(part.counter_names)
        return cls(
            cells=list(chain.from_iterable(p.cells for p in parts)),
            counts=np.concatenate([p.counts for p in parts]),
            suspect=np.concatenate([p.suspect for p in parts]),
            counter_names=list(chain.from_iterable(p.counter_names for p in parts)),
            codes=np.concatenate(shifted),
            values=np.concatenate([p.values for p in parts]),
            rec_rows=np.concatenate([p.rec_rows for p in parts]),
            rec_end_us=np.concatenate([p.rec_end_us for p in parts]),
            rec_gran=np.concatenate([p.rec_gran for p in parts]),
        )

    def to_batch(self) -> PmBatch:
        if not len(self.values):
            return PmBatch.empty()
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._to_batch()
        finally:
            if enabled:
                gc.enable()

    def _to_batch(self) -> PmBatch:
        cells = np.empty(len(self.cells), dtype=object)
        cells[:] = self.cells
        names = np.empty(len(self.counter_names), dtype=object)
        names[:] = self.counter_names
        ends = np.repeat(self.rec_end_us, self.rec_rows)
        frame = pd.DataFrame(
            {
                "cell": pd.Series(np.repeat(cells, self.counts), dtype=object),
                "period_end": pd.to_datetime(ends, unit="us", utc=True).as_unit("ns"),
                "granularity_s": np.repeat(self.rec_gran, self.rec_rows).astype("int32"),
                "counter": pd.Series(names.take(self.codes), dtype=object),
                "value": self.values,
                "suspect": np.repeat(self.suspect, self.counts),
            }
        )
        return PmBatch(frame)


def from_columns(cols: Columns, table: CounterTable) -> Record:
    """A record the reference path decoded, as per-cell runs (values already final)."""
    cells: list[str] = []
    counts: list[int] = []
    suspects: list[bool] = []
    codes: list[int] = []
    for cell, counter, suspect in zip(cols.cell, cols.counter, cols.suspect, strict=True):
        if cells and cells[-1] == cell and suspects[-1] == suspect:
            counts[-1] += 1
        else:
            cells.append(cell)
            counts.append(1)
            suspects.append(suspect)
        codes.append(table.code(counter))
    explicit: dict[int, list[int]] = {}
    k = 0
    for m, n in enumerate(counts):
        explicit[m] = codes[k : k + n]
        k += n
    end_us = cols.period_end_us[0] if cols.period_end_us else 0
    gran = cols.granularity_s[0] if cols.granularity_s else 0
    return Record(
        cells, counts, suspects, [-1] * len(cells), explicit, [], end_us, gran, cols.value
    )


def pack(recs: list[Record], table: CounterTable, values: np.ndarray) -> Packed:
    """The records of a batch, with ``values`` (all their rows, in order), as one ``Packed``."""
    cells: list[str] = []
    counts: list[int] = []
    suspect: list[bool] = []
    offs: list[int] = []
    explicit: list[tuple[int, list[int]]] = []
    for rec in recs:
        base = len(offs)
        cells += rec.cells
        counts += rec.counts
        suspect += rec.suspect
        offs += rec.offs
        if rec.explicit:
            explicit += [(base + m, c) for m, c in rec.explicit.items()]
    counts_a = np.asarray(counts, dtype=np.int64)
    offs_a = np.asarray(offs, dtype=np.int64)
    total = int(counts_a.sum())
    starts = np.cumsum(counts_a) - counts_a
    # rows of a measValue with p = 1..n: its measTypes offset + 0..n-1
    codes = np.repeat(offs_a - starts, counts_a) + np.arange(total, dtype=np.int64)
    for m, c in explicit:
        codes[starts[m] : starts[m] + counts_a[m]] = c
    rec_rows = np.fromiter((sum(r.counts) for r in recs), dtype=np.int64, count=len(recs))
    return Packed(
        cells=cells,
        counts=counts_a,
        suspect=np.asarray(suspect, dtype=bool),
        counter_names=table.names,
        codes=codes.astype(np.int32),
        values=values,
        rec_rows=rec_rows,
        rec_end_us=np.asarray([r.end_us for r in recs], dtype=np.int64),
        rec_gran=np.asarray([r.gran for r in recs], dtype=np.int32),
    )
