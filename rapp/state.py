"""Per-cell KPI history as fixed-size ring buffers.

One float32 matrix per KPI, cells down and ROP slots across, so a forecast over every cell is one
slice and one ROP of new data is one fancy-indexed assignment: no per-cell Python work, and memory
that does not grow with uptime (100k cells x 3 days of 15-min ROPs x 1 KPI is ~115 MB).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

_NO_ROP = np.iinfo(np.int64).min


class CellState:
    """Ring buffers of KPIs per cell, keyed by ROP number (period end // granularity).

    A ROP is *closed* once every known cell has reported it, or once a later ROP has started to
    arrive (reports are ordered per gNB, so a later ROP means the earlier one is done).
    """

    def __init__(
        self,
        kpis: Iterable[str],
        *,
        granularity_s: int = 900,
        retention: int = 288,
        initial_cells: int = 1024,
    ) -> None:
        if retention < 2:
            raise ValueError("retention must hold at least two ROPs")
        self.kpis = tuple(kpis)
        self.granularity_s = int(granularity_s)
        self.retention = int(retention)
        self._cells = pd.Index([], dtype=object)
        self._values = {
            k: np.full((initial_cells, retention), np.nan, dtype=np.float32) for k in self.kpis
        }
        self._slot_rop = np.full(retention, _NO_ROP, dtype=np.int64)
        self._reported = np.zeros((initial_cells, retention), dtype=bool)
        self._open: set[int] = set()
        self._closed_upto = _NO_ROP
        """Every ROP up to this one has closed: late reports still fill history, but do not
        close (and so trigger decisions about) the same ROP twice."""
        self._latest = _NO_ROP

    @property
    def cells(self) -> pd.Index:
        return self._cells

    @property
    def latest_rop(self) -> pd.Timestamp | None:
        return None if self._latest == _NO_ROP else self._to_time(self._latest)

    def ingest(self, kpis: pd.DataFrame) -> list[pd.Timestamp]:
        """Store a KPI frame (index (cell, period_end)); return the ROPs this closed, oldest first.

        Rows older than the retention window are dropped: history cannot be rewritten that far back.
        """
        if kpis.empty:
            return []
        cells = kpis.index.get_level_values(0)
        rops = self._rop_numbers(kpis.index.get_level_values(1))
        keep = rops > max(self._latest, _NO_ROP + self.retention) - self.retention
        if not keep.all():
            kpis, cells, rops = kpis[keep], cells[keep], rops[keep]
            if kpis.empty:
                return []
        rows = self._rows_for(cells)
        slots = rops % self.retention
        self._recycle(np.unique(rops))
        for kpi in self.kpis:
            if kpi in kpis.columns:
                self._values[kpi][rows, slots] = kpis[kpi].to_numpy(
                    dtype=np.float32, na_value=np.nan
                )
        self._reported[rows, slots] = True
        self._latest = max(self._latest, int(rops.max()))
        self._open.update(int(r) for r in np.unique(rops) if r > self._closed_upto)
        return self._close()

    def window(self, kpi: str, end: pd.Timestamp, length: int) -> np.ndarray:
        """KPI values of every cell for the ``length`` ROPs ending at ``end``: (cells, length).

        ROPs that never arrived, or have left the buffer, are NaN.
        """
        if length > self.retention:
            raise ValueError(f"window of {length} ROPs exceeds retention of {self.retention}")
        wanted = np.arange(self._rop_number(end) - length + 1, self._rop_number(end) + 1)
        slots = wanted % self.retention
        out = self._values[kpi][: len(self._cells), slots].copy()
        out[:, self._slot_rop[slots] != wanted] = np.nan
        return out

    def _rows_for(self, cells: pd.Index) -> np.ndarray:
        rows = self._cells.get_indexer(cells)
        if (rows < 0).any():
            new = pd.Index(cells[rows < 0]).unique()
            self._cells = self._cells.append(new)
            self._grow(len(self._cells))
            rows = self._cells.get_indexer(cells)
        return rows

    def _grow(self, n: int) -> None:
        have = self._reported.shape[0]
        if n <= have:
            return
        size = max(n, 2 * have)
        for kpi, values in self._values.items():
            grown = np.full((size, self.retention), np.nan, dtype=np.float32)
            grown[:have] = values
            self._values[kpi] = grown
        reported = np.zeros((size, self.retention), dtype=bool)
        reported[:have] = self._reported
        self._reported = reported

    def _recycle(self, rops: np.ndarray) -> None:
        """Clear the slots that new ROPs take over from ROPs one retention period older."""
        slots = rops % self.retention
        stale = self._slot_rop[slots] != rops
        for slot, rop in zip(slots[stale], rops[stale], strict=True):
            for values in self._values.values():
                values[:, slot] = np.nan
            self._reported[:, slot] = False
            self._open.discard(int(self._slot_rop[slot]))
            self._slot_rop[slot] = rop

    def _close(self) -> list[pd.Timestamp]:
        n = len(self._cells)
        closed = sorted(
            rop
            for rop in self._open
            if rop < self._latest or self._reported[:n, rop % self.retention].all()
        )
        self._open.difference_update(closed)
        if closed:
            self._closed_upto = max(self._closed_upto, closed[-1])
        return [self._to_time(r) for r in closed]

    def _rop_numbers(self, times: pd.Index) -> np.ndarray:
        ns = pd.DatetimeIndex(times).as_unit("ns").asi8
        return ns // (self.granularity_s * 1_000_000_000)

    def _rop_number(self, time: pd.Timestamp) -> int:
        return int(pd.Timestamp(time).as_unit("ns").value // (self.granularity_s * 1_000_000_000))

    def _to_time(self, rop: int) -> pd.Timestamp:
        return pd.Timestamp(rop * self.granularity_s, unit="s", tz="UTC")
