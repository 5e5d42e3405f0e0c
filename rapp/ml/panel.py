"""``Panel``: the KPI history every model reads, one (cells, ROPs) matrix per KPI.

Training data (the simulator's exports, ``rapp export telemetry``, a notebook's DataFrame) comes
as a *long* frame, one row per (cell, period end) with a column per KPI: exactly
``derive_kpis(batch).reset_index()``. Models want matrices on a regular time grid, so that a
lag is a column shift and a season is a reshape, over every cell at once. ``Panel`` is that
conversion, done once and vectorised, with a missing ROP (or a suspect one) as NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rapp.telemetry.kpi import KPIS, SUSPECT

CELL, PERIOD_END = "cell", "period_end"


@dataclass(frozen=True, eq=False)
class Panel:
    """KPI history of many cells on one regular ROP grid.

    ``values[kpi]`` is a (len(cells), len(times)) float64 matrix, oldest ROP first, NaN where
    the ROP is missing or was flagged suspect. ``times`` are period ends (UTC), ``step`` apart.
    """

    cells: pd.Index
    times: pd.DatetimeIndex
    values: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        shape = (len(self.cells), len(self.times))
        for name, matrix in self.values.items():
            if matrix.shape != shape:
                raise ValueError(f"KPI {name!r} has shape {matrix.shape}, expected {shape}")
        if len(self.times) > 1 and len(set(np.diff(self.times.asi8))) != 1:
            raise ValueError("panel times must be evenly spaced")

    @property
    def step(self) -> pd.Timedelta:
        if len(self.times) < 2:
            raise ValueError("a panel of fewer than two ROPs has no step")
        return self.times[1] - self.times[0]

    @property
    def kpis(self) -> tuple[str, ...]:
        return tuple(self.values)

    def kpi(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"KPI {name!r} not in the panel; have {list(self.values)}") from None

    def window(self, start: int | None = None, stop: int | None = None) -> Panel:
        """ROPs ``start:stop`` (positions, like a slice), every cell, views not copies."""
        cut = slice(start, stop)
        return Panel(self.cells, self.times[cut], {k: v[:, cut] for k, v in self.values.items()})

    def select(self, cells: Sequence[str] | pd.Index) -> Panel:
        """Only ``cells``, in that order (a cell not in the panel is all NaN)."""
        wanted = pd.Index(cells)
        pos = self.cells.get_indexer(wanted)
        out = {}
        for name, matrix in self.values.items():
            taken = matrix[np.clip(pos, 0, None)]
            taken[pos < 0] = np.nan
            out[name] = taken
        return Panel(wanted, self.times, out)

    def to_frame(self) -> pd.DataFrame:
        """The long frame: ``cell``, ``period_end`` and a column per KPI, cell-major order."""
        n, t = len(self.cells), len(self.times)
        frame = pd.DataFrame(
            {
                CELL: np.repeat(self.cells.to_numpy(dtype=object), t),
                PERIOD_END: self.times[np.tile(np.arange(t), n)],
            }
        )
        for name, matrix in self.values.items():
            frame[name] = matrix.reshape(-1)
        return frame

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        kpis: Iterable[str] | None = None,
        step: pd.Timedelta | None = None,
    ) -> Panel:
        """A long frame (or ``derive_kpis``' (cell, period_end)-indexed one) as a panel.

        ``kpis`` defaults to every known KPI column present. ``step`` defaults to the most
        common gap between consecutive period ends. Rows flagged ``suspect`` become NaN; a
        (cell, period end) given twice keeps its last row; a period end off the grid is an
        error, not silently moved.
        """
        if CELL not in frame.columns or PERIOD_END not in frame.columns:
            frame = frame.reset_index()
        missing = {CELL, PERIOD_END} - set(frame.columns)
        if missing:
            raise ValueError(f"a KPI frame needs columns {sorted(missing)}")
        names = list(kpis) if kpis is not None else [k for k in KPIS if k in frame.columns]
        absent = [k for k in names if k not in frame.columns]
        if absent:
            raise ValueError(f"KPI columns {absent} not in the frame; have {list(frame.columns)}")
        if not names:
            raise ValueError(f"no KPI columns in the frame; expected some of {list(KPIS)}")
        ends = _utc(frame[PERIOD_END])
        uniq = np.unique(ends.asi8)
        if step is None:
            step = _common_step(uniq)
        step_ns = pd.Timedelta(step).value
        offset = (uniq - uniq[0]) % step_ns
        if len(uniq) and offset.any():
            bad = pd.Timestamp(uniq[np.argmax(offset != 0)], tz="UTC")
            raise ValueError(f"period end {bad} is off the {pd.Timedelta(step)} grid")
        times = pd.date_range(
            pd.Timestamp(uniq[0], tz="UTC"), pd.Timestamp(uniq[-1], tz="UTC"), freq=step
        )
        codes, cells = pd.factorize(frame[CELL], sort=True)
        slot = (ends.asi8 - uniq[0]) // step_ns
        bad_rows = (
            frame[SUSPECT].to_numpy(dtype=bool)
            if SUSPECT in frame.columns
            else np.zeros(len(frame), bool)
        )
        values = {}
        for name in names:
            matrix = np.full((len(cells), len(times)), np.nan)
            column = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
            matrix[codes, slot] = np.where(bad_rows, np.nan, column)
            values[name] = matrix
        return cls(pd.Index(cells, name=CELL), times, values)


def read_frame(path: str | Path) -> pd.DataFrame:
    """A long KPI frame from a Parquet or CSV file, or a directory: its ``kpis.parquet`` (or
    ``kpis.csv``) if it has one (a simulator dataset), else every such file in it."""
    path = Path(path)
    if path.is_dir():
        # A simulator dataset folder holds events, artefacts and alarms beside kpis.*.
        for name in ("kpis.parquet", "kpis.csv"):
            if (path / name).is_file():
                return read_frame(path / name)
        files = sorted(p for p in path.rglob("*") if p.suffix in {".parquet", ".csv", ".gz"})
        if not files:
            raise FileNotFoundError(f"no .parquet or .csv files in {path}")
        return pd.concat([read_frame(f) for f in files], ignore_index=True)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return read_table(path)


def read_table(path: str | Path) -> pd.DataFrame:
    """A table (KPIs, or a simulator's ``events`` or ``artefacts``) from one Parquet or CSV
    file, with its time columns as UTC timestamps whichever format it came in."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    elif path.name.endswith((".csv", ".csv.gz")):
        table = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: expected a .parquet or .csv file")
    for column in ("start", "end", PERIOD_END):
        if column in table.columns:
            table[column] = _utc(table[column])
    return table


def _utc(column: pd.Series | pd.Index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(pd.to_datetime(column, utc=True))
    return index.as_unit("ns")


def _common_step(uniq: np.ndarray) -> pd.Timedelta:
    if len(uniq) < 2:
        raise ValueError("cannot infer the ROP length from fewer than two period ends; pass step")
    gaps, counts = np.unique(np.diff(uniq), return_counts=True)
    return pd.Timedelta(int(gaps[np.argmax(counts)]), unit="ns")
