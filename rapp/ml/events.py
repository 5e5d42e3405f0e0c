"""Event-level evaluation of anomaly flags against ground truth (the simulator's events).

Counting ROPs would reward a detector for flagging every ROP of a long fault and punish it for
a fault it caught late but caught; operators count problems. So: an event is detected when any
ROP of its cell within [start, end] is flagged; a false alarm is a run of flags that overlaps no
event; the delay is the first flag's ROP minus the event's first ROP. Data-quality artefacts
(missing ROPs, suspect rows, counter resets) are never anomalies: any flag on one is counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from rapp.ml.detector import confirm_runs

EVENT_COLUMNS = ("event_id", "cell", "kind", "start", "end", "alarm_id")
ARTEFACT_COLUMNS = ("cell", "period_end", "artefact")
ROPS_PER_WEEK_15MIN = 672


@dataclass(frozen=True, slots=True)
class EventMetrics:
    """Event-level detection quality over one panel (the numbers a model card carries)."""

    n_events: int
    n_detected: int
    n_false_alarms: int
    precision: float
    recall: float
    f1: float
    median_delay_rops: float
    """NaN when nothing was detected."""
    false_alarms_per_cell_week: float
    n_artefacts: int
    n_artefacts_flagged: int
    cell_weeks: float
    recall_by_kind: dict[str, float]
    delays_rops: tuple[int, ...]
    """Delay of each detected event, in event order."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["delays_rops"] = list(self.delays_rops)
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}


def evaluate_events(
    flags: np.ndarray,
    cells: pd.Index | np.ndarray | list[str],
    times: pd.DatetimeIndex,
    events: pd.DataFrame,
    artefacts: pd.DataFrame | None = None,
) -> EventMetrics:
    """Score (cells, T) bool ``flags`` on the ``cells`` x ``times`` grid against ``events``.

    Events that end before the first or start after the last ROP are out of the window and not
    counted; an event on a cell absent from the grid counts as missed (it was there to find).
    """
    flags, cells, times = _check_grid(flags, cells, times)
    truth = _events_in_window(events, times)
    cell_pos, first, last = _event_positions(truth, cells, times)
    known = cell_pos >= 0
    next_flag = _next_flag(flags)
    first_hit = np.full(len(truth), -1, dtype=np.int64)
    first_hit[known] = next_flag[cell_pos[known], first[known]]
    detected = known & (first_hit >= 0) & (first_hit <= last)
    delays = (first_hit - first)[detected]

    in_event = np.zeros(flags.shape, dtype=bool)
    _mark(in_event, cell_pos[known], first[known], last[known])
    n_false = _false_alarm_runs(flags, in_event)

    n_events, n_detected = len(truth), int(detected.sum())
    precision = _ratio(n_detected, n_detected + n_false)
    recall = _ratio(n_detected, n_events)
    # The count form of F1 stays defined when nothing was flagged (precision is then NaN).
    f1 = _ratio(2 * n_detected, 2 * n_detected + n_false + (n_events - n_detected))
    cell_weeks = len(cells) * len(times) * _step(times) / pd.Timedelta(weeks=1)
    n_artefacts, n_flagged = _artefacts_flagged(flags, cells, times, artefacts)
    kinds = truth["kind"].astype(str).to_numpy()
    return EventMetrics(
        n_events=n_events,
        n_detected=n_detected,
        n_false_alarms=n_false,
        precision=precision,
        recall=recall,
        f1=f1,
        median_delay_rops=float(np.median(delays)) if len(delays) else float("nan"),
        false_alarms_per_cell_week=_ratio(n_false, cell_weeks),
        n_artefacts=n_artefacts,
        n_artefacts_flagged=n_flagged,
        cell_weeks=float(cell_weeks),
        recall_by_kind={k: float(detected[kinds == k].mean()) for k in sorted(set(kinds))},
        delays_rops=tuple(int(d) for d in delays),
    )


def event_mask(
    events: pd.DataFrame, cells: pd.Index | np.ndarray | list[str], times: pd.DatetimeIndex
) -> np.ndarray:
    """(cells, T) bool: True on every ROP of a cell within one of its events.

    What to pass as ``y`` to ``Detector.fit`` so that known anomalies in the training data
    are not learned as normal; events on cells or times outside the grid are ignored.
    """
    cells, times = pd.Index(cells).astype(str), _tz_aware(pd.DatetimeIndex(times))
    truth = _events_in_window(events, times)
    cell_pos, first, last = _event_positions(truth, cells, times)
    known = cell_pos >= 0
    mask = np.zeros((len(cells), len(times)), dtype=bool)
    _mark(mask, cell_pos[known], first[known], last[known])
    return mask


def pr_curve(
    score: np.ndarray,
    cells: pd.Index | np.ndarray | list[str],
    times: pd.DatetimeIndex,
    events: pd.DataFrame,
    *,
    thresholds: np.ndarray | None = None,
    min_run: int = 1,
) -> pd.DataFrame:
    """Event-level precision and recall as the score threshold sweeps (for a PR plot).

    ``min_run`` applies the detector's persistence rule at every threshold, so the curve
    passes through the operating point the detector actually uses. Default thresholds: 40
    steps, evenly spaced on a log scale, from the median score to the largest, where almost
    every anomaly score lies far above the bulk of normal ones.
    """
    score = np.asarray(score, dtype=np.float64)
    if thresholds is None:
        finite = score[np.isfinite(score)]
        if finite.size == 0:
            raise ValueError("the score has no finite value to sweep thresholds over")
        low = max(float(np.median(finite)), 1e-6)
        thresholds = np.geomspace(low, max(float(finite.max()), low * 1.01), 40)
    gaps = np.isnan(score)
    rows = []
    for threshold in np.asarray(thresholds, dtype=np.float64):  # one pass per threshold
        with np.errstate(invalid="ignore"):
            flags = confirm_runs(score >= threshold, min_run, gaps=gaps)
        m = evaluate_events(flags, cells, times, events)
        rows.append((float(threshold), m.precision, m.recall, m.f1, m.n_false_alarms))
    return pd.DataFrame(rows, columns=["threshold", "precision", "recall", "f1", "false_alarms"])


def _check_grid(
    flags: np.ndarray, cells: pd.Index | np.ndarray | list[str], times: pd.DatetimeIndex
) -> tuple[np.ndarray, pd.Index, pd.DatetimeIndex]:
    flags = np.asarray(flags)
    cells = pd.Index(cells).astype(str)
    times = _tz_aware(pd.DatetimeIndex(times))
    if flags.shape != (len(cells), len(times)):
        raise ValueError(
            f"flags of shape {flags.shape} do not match {len(cells)} cells x {len(times)} ROPs"
        )
    if flags.dtype != bool:
        raise ValueError(f"flags must be bool, got {flags.dtype} (threshold a score first)")
    return flags, cells, times


def _events_in_window(events: pd.DataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    missing = set(EVENT_COLUMNS) - set(events.columns) - {"alarm_id"}
    if missing:
        raise ValueError(f"the events frame lacks columns {sorted(missing)}")
    start, end = _utc(events["start"]), _utc(events["end"])
    if (end < start).any():
        raise ValueError("an event ends before it starts")
    inside = (end >= times[0]) & (start <= times[-1])
    out = events.loc[inside].copy()
    out["start"], out["end"] = start[inside], end[inside]
    return out.reset_index(drop=True)


def _event_positions(
    events: pd.DataFrame, cells: pd.Index, times: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row of each event's cell (-1 if absent) and its first and last ROP on the grid."""
    cell_pos = cells.get_indexer(events["cell"].astype(str))
    first = times.searchsorted(pd.DatetimeIndex(events["start"]), side="left")
    last = times.searchsorted(pd.DatetimeIndex(events["end"]), side="right") - 1
    return cell_pos, first.astype(np.int64), np.asarray(last, dtype=np.int64)


def _next_flag(flags: np.ndarray) -> np.ndarray:
    """Position of the first flag at or after each ROP of each cell (-1: none)."""
    n_t = flags.shape[1]
    pos = np.where(flags, np.arange(n_t), n_t)
    nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1]
    return np.where(nxt == n_t, -1, nxt)


def _mark(matrix: np.ndarray, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> None:
    """Set ``matrix[row, first:last + 1]`` for every span, via a difference array."""
    n_t = matrix.shape[1]
    diff = np.zeros((matrix.shape[0], n_t + 1), dtype=np.int64)
    np.add.at(diff, (rows, np.clip(first, 0, n_t)), 1)
    np.add.at(diff, (rows, np.clip(last + 1, 0, n_t)), -1)
    matrix |= np.cumsum(diff, axis=1)[:, :n_t] > 0


def _false_alarm_runs(flags: np.ndarray, in_event: np.ndarray) -> int:
    """Runs of flags (per cell, consecutive ROPs) with no ROP inside any event."""
    padded = np.pad(flags, ((0, 0), (1, 0))).reshape(-1)  # a False between cells ends runs
    touched = np.pad(in_event, ((0, 0), (1, 0))).reshape(-1)
    run_id = np.cumsum(padded & ~np.r_[False, padded[:-1]])
    runs = run_id[padded]
    if runs.size == 0:
        return 0
    overlaps = np.bincount(runs, weights=touched[padded])
    return int(((overlaps == 0) & (np.bincount(runs) > 0))[1:].sum())


def _artefacts_flagged(
    flags: np.ndarray, cells: pd.Index, times: pd.DatetimeIndex, artefacts: pd.DataFrame | None
) -> tuple[int, int]:
    if artefacts is None or artefacts.empty:
        return 0, 0
    missing = set(ARTEFACT_COLUMNS) - set(artefacts.columns)
    if missing:
        raise ValueError(f"the artefacts frame lacks columns {sorted(missing)}")
    rows = cells.get_indexer(artefacts["cell"].astype(str))
    cols = times.get_indexer(_utc(artefacts["period_end"]))
    on_grid = (rows >= 0) & (cols >= 0)
    return int(on_grid.sum()), int(flags[rows[on_grid], cols[on_grid]].sum())


def _step(times: pd.DatetimeIndex) -> pd.Timedelta:
    if len(times) < 2:
        return pd.Timedelta(weeks=1) / ROPS_PER_WEEK_15MIN
    return times[1] - times[0]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def _tz_aware(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return times.tz_localize("UTC") if times.tz is None else times


def _utc(column: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("ns")
