"""Per-cell KPI history as fixed-size ring buffers.

One float32 matrix per KPI, cells down and ROP slots across, so a forecast over every cell is one
slice and one ROP of new data is one fancy-indexed assignment: no per-cell Python work, and memory
that does not grow with uptime (100k cells x 3 days of 15-min ROPs x 1 KPI is ~115 MB).

Time jumps: one record with a junk period end far in the future (a node with a bad clock, a
converter's garbage) would move the newest ROP there, close every open ROP early and push all
real data out of the retention window, for good. So the state takes a jump of more than
``max_jump`` ROPs past what it has (or a gap that size inside one batch) only once a second
batch confirms it (half the known cells report past it, or it spans two ROPs while the old
time line is silent); until then the rows are held. If the stream instead goes on where it was
(a new ROP opens on the old time line), the held rows are dropped and counted in ``skipped``.
The very first batch has nothing to be compared with: if it is all junk, the state starts there.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

_NO_ROP = np.iinfo(np.int64).min
log = logging.getLogger(__name__)


class CellState:
    """Ring buffers of KPIs per cell, keyed by ROP number (period end // granularity).

    A ROP is *closed* once every known cell has reported it, or once a later ROP has started to
    arrive (reports are ordered per gNB, so a later ROP means the earlier one is done). A period
    end is placed in the nearest ROP, so a few seconds of clock skew do not shift it.
    """

    def __init__(
        self,
        kpis: Iterable[str],
        *,
        granularity_s: int = 900,
        retention: int = 288,
        initial_cells: int = 1024,
        max_jump: int = 4,
    ) -> None:
        if retention < 2:
            raise ValueError("retention must hold at least two ROPs")
        if granularity_s < 1:
            raise ValueError(
                f"granularity must be a positive number of seconds, not {granularity_s}"
            )
        if max_jump < 1:
            raise ValueError("max_jump must be at least one ROP")
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
        self.max_jump = int(max_jump)
        self._held: pd.DataFrame | None = None
        """Rows past a time jump, waiting for a second batch to confirm it."""
        self.skipped: Counter[str] = Counter()
        """Rows not taken, by reason (``too_old``, ``unconfirmed_jump``)."""

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
        kpis = self._past_jumps(kpis)
        if kpis.empty:
            return []
        cells = kpis.index.get_level_values(0)
        rops = self._rop_numbers(kpis.index.get_level_values(1))
        keep = rops > max(self._latest, _NO_ROP + self.retention) - self.retention
        if not keep.all():
            self.skipped["too_old"] += int((~keep).sum())
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

    def _past_jumps(self, kpis: pd.DataFrame) -> pd.DataFrame:
        """The rows to take now: rows past a jump are held back until the jump is confirmed
        (then they are taken with this batch) or refuted (then they are dropped)."""
        rops = self._rop_numbers(kpis.index.get_level_values(1))
        jump = self._jump_from(np.unique(rops))
        if jump is None:
            now, ahead = kpis, None
        else:
            now, ahead = kpis[rops < jump], kpis[rops >= jump]
        if self._held is not None and self._opens_rop(now):
            held = self._held
            self._held = None
            self.skipped["unconfirmed_jump"] += len(held)
            log.warning(
                "dropped %d PM rows from %s: a jump past %s that the stream did not follow",
                len(held),
                held.index.get_level_values(1).min(),
                self.latest_rop,
            )
        if ahead is None:
            return now
        held = ahead if self._held is None else pd.concat([self._held, ahead])
        if self._confirmed(held, now):
            self._held = None
            log.warning(
                "PM time jumped from %s to %s (%d rows, %d cells past the jump)",
                self.latest_rop,
                held.index.get_level_values(1).min(),
                len(held),
                held.index.get_level_values(0).nunique(),
            )
            return pd.concat([now, held])
        if self._held is None:
            log.warning(
                "holding %d PM rows from %s: more than %d ROPs past the data before them",
                len(ahead),
                ahead.index.get_level_values(1).min(),
                self.max_jump,
            )
        self._held = held
        return now

    def _confirmed(self, held: pd.DataFrame, now: pd.DataFrame) -> bool:
        """A jump is real once half the known cells report past it, or once it spans two ROPs
        while the old time line stayed silent: one node's bad clock does neither."""
        known = len(self._cells.union(now.index.get_level_values(0).unique()))
        if known == 0 or held.index.get_level_values(0).nunique() * 2 >= known:
            return True
        return len(np.unique(self._rop_numbers(held.index.get_level_values(1)))) >= 2

    def _jump_from(self, rops: np.ndarray) -> int | None:
        """The first ROP (of sorted unique ``rops``) more than ``max_jump`` past what precedes it
        (the newest ROP in state, or the ROP before it in this batch)."""
        start = self._latest if self._latest != _NO_ROP else int(rops[0])
        front = np.maximum.accumulate(np.concatenate(([start], rops)))[:-1]
        gaps = np.flatnonzero(rops > front + self.max_jump)
        return None if not len(gaps) else int(rops[gaps[0]])

    def _opens_rop(self, kpis: pd.DataFrame) -> bool:
        if kpis.empty:
            return False
        return bool((self._rop_numbers(kpis.index.get_level_values(1)) > self._latest).any())

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

    def keep(self, retention: int) -> None:
        """Hold at least ``retention`` ROPs from now on (a newly promoted model may read more
        history than the state was sized for); what is held already stays where it is."""
        if retention <= self.retention:
            return
        # Only ROPs still inside the window: after a time jump a slot may hold one that is
        # not, and in the larger ring it could land on a live ROP's slot.
        held = np.flatnonzero(
            (self._slot_rop != _NO_ROP) & (self._slot_rop > self._latest - self.retention)
        )
        rops = self._slot_rop[held]
        slots = rops % retention
        for kpi, values in self._values.items():
            grown = np.full((values.shape[0], retention), np.nan, dtype=np.float32)
            grown[:, slots] = values[:, held]
            self._values[kpi] = grown
        reported = np.zeros((self._reported.shape[0], retention), dtype=bool)
        reported[:, slots] = self._reported[:, held]
        self._reported = reported
        slot_rop = np.full(retention, _NO_ROP, dtype=np.int64)
        slot_rop[slots] = rops
        self._slot_rop = slot_rop
        self.retention = int(retention)

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
        step = self.granularity_s * 1_000_000_000
        return (ns + step // 2) // step

    def _rop_number(self, time: pd.Timestamp) -> int:
        step = self.granularity_s * 1_000_000_000
        return int((pd.Timestamp(time).as_unit("ns").value + step // 2) // step)

    def _to_time(self, rop: int) -> pd.Timestamp:
        return pd.Timestamp(rop * self.granularity_s, unit="s", tz="UTC")
