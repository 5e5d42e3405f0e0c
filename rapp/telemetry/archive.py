"""``TelemetryArchive``: the KPI rows the running rApp took in, kept as Parquet for retraining.

Data scientists retrain on what the network really sent, not only on the simulator. The loop
writes every batch it ingests (the long KPI frame models train on, suspect rows included and
flagged) into one folder per day of period end, and deletes days more than ``keep_days``
older than the newest;
``rapp export telemetry`` reads them back into one file. One file per batch keeps the hot path
to a single append-only write, with no read-modify-write of a growing file.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from rapp.telemetry.kpi import INDEX, KPIS, SUSPECT

log = logging.getLogger(__name__)

COLUMNS = (*INDEX, *KPIS, SUSPECT)
_DAY = "date="


class TelemetryArchive:
    """Append-only daily folders of Parquet KPI rows under ``root``."""

    def __init__(self, root: str | Path, *, keep_days: int = 14) -> None:
        if keep_days < 1:
            raise ValueError("keep_days must be at least 1")
        self.root = Path(root)
        self.keep_days = keep_days
        self._pruned_on: date | None = None

    def write(self, kpis: pd.DataFrame) -> int:
        """Append a ``derive_kpis`` frame (indexed by cell, period end); returns rows written."""
        if kpis.empty:
            return 0
        frame = kpis.reset_index()
        frame = frame.reindex(columns=list(COLUMNS))
        days = frame["period_end"].dt.date
        for day, rows in frame.groupby(days, sort=True):
            folder = self.root / f"{_DAY}{day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            # Named by write time: files sort in the order they were written, so when a batch
            # is ingested twice (a restart), ``read`` keeps the later copy.
            target = folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
            temporary = target.with_suffix(".tmp")
            rows.to_parquet(temporary, index=False)
            temporary.replace(target)  # readers never see half a file
        # Relative to the data, not the wall clock: replayed history is not deleted on arrival.
        self._prune(max(days))
        return len(frame)

    def files(self, since: date | None = None, until: date | None = None) -> list[Path]:
        """The Parquet files of days ``since``..``until`` (inclusive), oldest day first."""
        return [
            f for _day, folder in self._days(since, until) for f in sorted(folder.glob("*.parquet"))
        ]

    def read(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Every archived row with ``since <= period_end <= until``, one row per (cell, period
        end) (a batch ingested twice after a restart keeps its last copy), sorted."""
        files = self.files(since.date() if since else None, until.date() if until else None)
        if not files:
            raise FileNotFoundError(f"no archived telemetry in {self.root} for that period")
        parts = []
        for n, path in enumerate(files, 1):
            parts.append(pd.read_parquet(path))
            if progress is not None:
                progress(n, len(files))
        frame = pd.concat(parts, ignore_index=True)
        if since is not None:
            frame = frame[frame["period_end"] >= pd.Timestamp(since)]
        if until is not None:
            frame = frame[frame["period_end"] <= pd.Timestamp(until)]
        frame = frame.drop_duplicates(subset=list(INDEX), keep="last")
        return frame.sort_values(list(INDEX), ignore_index=True)

    def _days(self, since: date | None, until: date | None) -> Iterator[tuple[date, Path]]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.glob(f"{_DAY}*")):
            try:
                day = date.fromisoformat(folder.name.removeprefix(_DAY))
            except ValueError:
                continue  # not ours
            if (since is None or day >= since) and (until is None or day <= until):
                yield day, folder

    def _prune(self, today: date) -> None:
        if self._pruned_on is not None and today <= self._pruned_on:
            return
        self._pruned_on = today
        oldest = today - timedelta(days=self.keep_days)
        for day, folder in list(self._days(None, None)):
            if day < oldest:
                shutil.rmtree(folder, ignore_errors=True)
                log.info("telemetry archive: dropped %s (older than %d days)", day, self.keep_days)
