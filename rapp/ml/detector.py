"""Anomaly detector: how far each cell is from its own normal week, over several KPIs at once.

``Detector.fit`` learns, per cell and KPI, an expected value for every hour of the week (a
median, so a burst barely moves it; the same hour on days of the same type, then on any day,
stands in where the week has too few samples) and a robust scale per hour of the day (MAD of
held-out residuals, since in-sample ones flatter a median of a few samples).
Scoring turns each ROP into robust z-scores on a log scale (traffic is multiplicative: a
quiet night and a busy evening vary by the same ratio, not the same amount), then combines
the largest single-KPI deviation with an ``IsolationForest`` over the z vector, which catches
combinations no single KPI shows (throughput down while the load is unchanged).

What must not be flagged is designed out rather than thresholded away:

- a missing or suspect ROP is NaN in the panel: no score, never a flag, and no break in a run;
- a one-ROP counter reset cannot be a flag: a flag needs ``min_run`` consecutive deviating ROPs
  (and is raised at the ROP that confirms it, as the running loop would);
- a holiday looks like the rest day (``rest_day``): when most cells of a day fit the rest-day
  profile far better than their own, the whole network is scored against the rest day that
  day (and a holiday in the training history is left out, its weekday judged as a typical
  workday);
- anomalies in the training history: known ones are masked with ``y`` (``events.event_mask``),
  unknown ones are left out by ``clean_passes`` refits;
- a network-wide shift (slow trend, weather) is removed as the median residual over cells;
- a burst raises load: a load KPI above normal needs ``burst_tolerance`` times the threshold.

The profile and spread are computed in ``rapp.ml.seasonal_profile``, the forest is
``rapp.ml.residual_forest.ResidualForest``. ``ResidualForest`` can still be imported from here:
model files saved before it moved name it ``rapp.ml.detector.ResidualForest``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL
from rapp.ml import seasonal_profile as seasons
from rapp.ml.panel import Panel
from rapp.ml.residual_forest import ResidualForest
from rapp.telemetry.kpi import (
    ACTIVE_UE_DL,
    ACTIVE_UE_UL,
    ENERGY_KWH,
    RRC_CONN_MAX,
    RRC_CONN_MEAN,
    THP_DL,
    THP_UL,
)

DEFAULT_KPIS: tuple[str, ...] = (
    PRB_UTIL_DL,
    PRB_UTIL_UL,
    THP_DL,
    THP_UL,
    ACTIVE_UE_DL,
    RRC_CONN_MEAN,
)
LOAD_KPIS: frozenset[str] = frozenset(
    {PRB_UTIL_DL, PRB_UTIL_UL, ACTIVE_UE_DL, ACTIVE_UE_UL, RRC_CONN_MEAN, RRC_CONN_MAX, ENERGY_KWH}
)
"""KPIs that rise with demand: above normal is a burst unless it is far above."""
DEMAND_KPIS: frozenset[str] = frozenset({PRB_UTIL_DL, ACTIVE_UE_DL, RRC_CONN_MEAN, RRC_CONN_MAX})
"""KPIs that say more users want DL capacity (what makes per-UE DL throughput fall)."""


@dataclass(frozen=True, eq=False)
class Evidence:
    """Everything the detector worked out for one panel, so callers need not score twice.

    ``z``, ``expected`` and ``observed`` are (len(kpis), cells, T); ``score`` and ``flags`` are
    (cells, T). ``expected`` is in the KPI's own unit; ``score`` >= 1 deviates (NaN: no data or a
    cell the detector never saw); ``flags`` are confirmed anomalies.
    """

    cells: pd.Index
    times: pd.DatetimeIndex
    step: pd.Timedelta
    kpis: tuple[str, ...]
    z: np.ndarray
    expected: np.ndarray
    observed: np.ndarray
    score: np.ndarray
    flags: np.ndarray

    def kpi_z(self, name: str) -> np.ndarray:
        return self.z[self._position(name)]

    def _position(self, name: str) -> int:
        try:
            return self.kpis.index(name)
        except ValueError:
            raise KeyError(f"KPI {name!r} not scored; have {list(self.kpis)}") from None


class Detector(BaseEstimator):
    """Per-cell anomaly scores and flags over a ``Panel`` (scikit-learn estimator contract).

    Parameters are the knobs a data scientist turns: ``z_threshold`` (robust z at which one KPI
    alone deviates), ``forest_threshold`` (forest MADs at which a KPI combination deviates),
    ``burst_tolerance`` (factor on the threshold for a load KPI above normal), ``min_run``
    (consecutive deviating ROPs before a flag), ``slot_minutes`` (width of a profile slot),
    ``min_slot_samples`` (weekly samples below which the day-type profile is used),
    ``min_scale`` (floor of the log-scale spread: a perfectly flat cell must not make noise
    infinitely significant), ``rest_day`` (0 = Monday; ``None`` turns holiday handling off),
    ``weekend_days``, ``min_network_cells`` (cells needed before network-wide corrections are
    trusted), ``forest_gate`` (largest |z| below which the forest is not consulted),
    ``max_fit_rows`` (training rows that calibrate the forest), ``clean_passes`` (refits
    without what the previous pass found deviating), ``group_by`` (the DN attribute whose cells
    share a site, e.g. ``ManagedElement``: a surge they all share is an event, not an anomaly;
    None turns that off), ``min_group_cells`` and ``random_state`` (the forest's seed).
    """

    def __init__(
        self,
        kpis: tuple[str, ...] = DEFAULT_KPIS,
        *,
        z_threshold: float = 7.0,
        forest_threshold: float = 10.0,
        burst_tolerance: float = 2.0,
        min_run: int = 2,
        slot_minutes: int = 60,
        min_slot_samples: int = 2,
        min_scale: float = 0.05,
        rest_day: int | None = 6,
        weekend_days: tuple[int, ...] = (5, 6),
        min_network_cells: int = 20,
        forest_gate: float = 2.5,
        n_estimators: int = 100,
        max_fit_rows: int = 20_000,
        clean_passes: int = 1,
        group_by: str | None = "ManagedElement",
        min_group_cells: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.kpis = kpis
        self.z_threshold = z_threshold
        self.forest_threshold = forest_threshold
        self.burst_tolerance = burst_tolerance
        self.min_run = min_run
        self.slot_minutes = slot_minutes
        self.min_slot_samples = min_slot_samples
        self.min_scale = min_scale
        self.rest_day = rest_day
        self.weekend_days = weekend_days
        self.min_network_cells = min_network_cells
        self.forest_gate = forest_gate
        self.n_estimators = n_estimators
        self.max_fit_rows = max_fit_rows
        self.clean_passes = clean_passes
        self.group_by = group_by
        self.min_group_cells = min_group_cells
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, panel: Panel, y: np.ndarray | None = None) -> Detector:
        """Learn each cell's weekly profile and spread, then the forest over training z.

        ``y``, optional, is a (cells, ROPs) bool mask of ROPs known to be anomalous (e.g. the
        simulator's ground truth): they are left out of what "normal" means. Without it,
        ``clean_passes`` refits after leaving out what the previous pass found deviating,
        which works when the training history holds each hour of the week more than once.
        """
        self._check_params()
        _check_panel(panel, min_rops=2)  # the ROP length is learned from the panel
        kpis = tuple(k for k in self.kpis if k in panel.values)
        if not kpis:
            raise ValueError(f"the panel has none of the KPIs {list(self.kpis)}")
        self.kpis_ = kpis
        self.step_ns_ = int(panel.step.value)
        self.cells_ = np.asarray(panel.cells, dtype=str)
        logs = _log(np.stack([panel.kpi(k) for k in kpis]))
        if y is not None:
            known = np.asarray(y)
            if known.shape != logs.shape[1:] or known.dtype != bool:
                raise ValueError(
                    f"y must be a bool mask of shape {logs.shape[1:]} (cells, ROPs), "
                    f"got {known.dtype} {known.shape}"
                )
            logs = np.where(known[None], np.nan, logs)
        week = self._week_position(panel.times)
        groups = self.groups_ = seasons.cell_groups(panel.cells, self.group_by)
        self._learn(logs, week)
        # A holiday in the training history is not what its weekday normally looks like.
        _, _, odd_day = self._deviation(logs, week, panel.times, groups=groups)
        if odd_day.any():
            logs = np.where(odd_day, np.nan, logs)
            self._learn(logs, week)
        for _ in range(self.clean_passes):
            z, _, _ = self._deviation(logs, week, panel.times, groups=groups)
            deviating = self._combine(z) >= 1.0
            if not deviating.any():
                break
            logs = np.where(deviating[None], np.nan, logs)
            self._learn(logs, week)
        return self

    def _learn(self, logs: np.ndarray, week: np.ndarray) -> None:
        """Profile, spread and forest from log KPIs (NaN: not to be learned from)."""
        slots, weekend = self.slot_minutes, self.weekend_days
        self.profile_ = seasons.fit_profile(
            logs, week, slot_minutes=slots, weekend_days=weekend, min_samples=self.min_slot_samples
        )
        self.workday_profile_ = seasons.workday_profile(
            self.profile_, slot_minutes=slots, weekend_days=weekend
        )
        held_out = seasons.held_out_residuals(
            logs, week, slot_minutes=slots, weekend_days=weekend, min_samples=self.min_slot_samples
        )
        resid = seasons.remove_common_mode(held_out, self.min_network_cells)
        self.scale_ = seasons.fit_scale(resid, week, slot_minutes=slots, min_scale=self.min_scale)
        z = resid / seasons.scale_at(self.scale_, week, slot_minutes=slots)
        rows = z.reshape(len(self.kpis_), -1).T
        rows = rows[~np.isnan(rows).all(axis=1)]
        if len(rows) == 0:
            raise ValueError("the panel has no observed ROP to learn from")
        if len(rows) > self.max_fit_rows:
            rng = np.random.default_rng(self.random_state)
            rows = rows[rng.choice(len(rows), self.max_fit_rows, replace=False)]
        self.forest_ = ResidualForest(
            n_estimators=self.n_estimators,
            threshold_mads=self.forest_threshold,
            random_state=self.random_state,
        ).fit(rows)
        # float32 halves a model that grows with the cells (100k cells: ~0.5 GB in float64).
        self.profile_ = self.profile_.astype(np.float32)
        self.workday_profile_ = self.workday_profile_.astype(np.float32)
        self.scale_ = self.scale_.astype(np.float32)

    # -- scoring ---------------------------------------------------------------------------

    def evidence(self, panel: Panel) -> Evidence:
        """Score ``panel`` once and keep every intermediate a caller may want."""
        check_is_fitted(self, "forest_")
        _check_panel(panel)
        absent = [k for k in self.kpis_ if k not in panel.values]
        if absent:
            raise ValueError(f"the panel lacks KPIs {absent} the detector was fitted on")
        observed = np.stack([panel.kpi(k) for k in self.kpis_])
        rows = pd.Index(self.cells_).get_indexer(panel.cells.astype(str))
        known = rows >= 0
        week = self._week_position(panel.times)
        logs = _log(observed)
        if not known.all():
            logs[:, ~known] = np.nan  # a cell without history gets no opinion
        # Groups come with the fitted cells (a DN regex per cell is too slow to redo every
        # ROP); a cell not seen in training has no opinion anyway. Files saved before
        # ``groups_`` existed work them out here.
        fitted = getattr(self, "groups_", None)
        if fitted is None:
            fitted = self.groups_ = seasons.cell_groups(self.cells_, self.group_by)
        groups = np.where(known, fitted[np.clip(rows, 0, None)], -1)
        rows = None if np.array_equal(rows, np.arange(len(self.cells_))) else np.clip(rows, 0, None)
        z, expected_log, _ = self._deviation(logs, week, panel.times, rows, groups)
        score = self._combine(z)
        flags = confirm_runs(
            score >= 1.0, self.min_run, gaps=np.isnan(score) | _first_zero(observed)
        )
        return Evidence(
            cells=panel.cells,
            times=panel.times,
            step=pd.Timedelta(self.step_ns_, unit="ns"),
            kpis=self.kpis_,
            z=z,
            expected=np.expm1(expected_log),
            observed=observed,
            score=score,
            flags=flags,
        )

    def score(self, panel: Panel) -> np.ndarray:
        """(cells, T) anomaly score: >= 1 deviates; NaN where there is nothing to judge."""
        return self.evidence(panel).score

    def predict(self, panel: Panel) -> np.ndarray:
        """(cells, T) bool: confirmed anomalies (never on a missing or suspect ROP)."""
        return self.evidence(panel).flags

    def explain(self, panel: Panel, top: int = 3) -> pd.DataFrame:
        """One row per flagged (cell, ROP): its score and the ``top`` KPIs by |z|, with z."""
        return explain(self.evidence(panel), top)

    def _combine(self, z: np.ndarray) -> np.ndarray:
        """Largest single-KPI deviation or the forest's, whichever says more; 1 = threshold."""
        load = np.array([k in LOAD_KPIS for k in self.kpis_])[:, None, None]
        # Per-UE DL throughput falls when more users share the cell: while DL demand is up, a
        # DL throughput dip is the burst's shadow and gets the burst's tolerance; with demand
        # flat it is judged as it is (a KPI degradation). UL is left out on purpose: UL PRB
        # up with UL throughput down is what interference looks like.
        speed = np.array([k == THP_DL for k in self.kpis_])[:, None, None]
        demand = np.array([k in DEMAND_KPIS for k in self.kpis_])[:, None, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            demand_z = np.nanmax(np.where(demand, z, np.nan), axis=0, initial=-np.inf)
        load_up = demand_z >= self.forest_gate
        tolerance = np.where(
            (load & (z > 0)) | (speed & (z < 0) & load_up[None]), self.burst_tolerance, 1.0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            single = np.nanmax(np.abs(z) / (self.z_threshold * tolerance), axis=0)
            largest = np.nanmax(np.abs(z), axis=0)
        rows = z.reshape(len(self.kpis_), -1).T
        # The forest only judges ROPs where some KPI already stands out: the others are
        # normal in every KPI, and skipping them makes scoring ~10x cheaper.
        worth = (largest >= self.forest_gate).reshape(-1)
        forest = np.where(np.isnan(single), np.nan, 0.0).reshape(-1)
        if worth.any():
            forest[worth] = self.forest_.anomaly_score(rows[worth])
        return np.fmax(single, forest.reshape(single.shape))

    def _deviation(
        self,
        logs: np.ndarray,
        week: np.ndarray,
        times: pd.DatetimeIndex,
        rows: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Robust z (kpis, cells, T), the expected log KPIs, and which ROPs were judged
        against another day's profile (a holiday, or an odd day in the training week).

        ``rows`` maps the panel's cells to fitted ones (None: the same cells, same order);
        only the profile slots the panel's ROPs need are gathered, never the whole profile.
        """
        expected = seasons.expected_log(self.profile_, week, rows)
        spread = seasons.scale_at(self.scale_, week, slot_minutes=self.slot_minutes, rows=rows)
        odd = np.zeros(len(times), dtype=bool)
        if self.rest_day is not None and logs.shape[1] >= self.min_network_cells:
            rest_week = seasons.as_rest_day(week, self.rest_day, self.slot_minutes)
            others = {
                "rest": seasons.expected_log(self.profile_, rest_week, rows),
                "workday": seasons.expected_log(self.workday_profile_, week, rows),
            }
            expected, odd = seasons.choose_day_profiles(
                logs,
                expected,
                others,
                spread,
                week,
                times,
                step_ns=self.step_ns_,
                slot_minutes=self.slot_minutes,
                rest_day=self.rest_day,
                weekend_days=self.weekend_days,
            )
        z = seasons.remove_common_mode(logs - expected, self.min_network_cells) / spread
        if groups is not None:
            load = np.array([k in LOAD_KPIS for k in self.kpis_])
            z = seasons.remove_shared_surge(
                z, groups, load, min_cells=self.min_group_cells, threshold=self.z_threshold / 2
            )
        return z, expected, odd

    def _week_position(self, times: pd.DatetimeIndex) -> np.ndarray:
        return seasons.week_position(times, self.step_ns_, self.slot_minutes)

    def _check_params(self) -> None:
        if self.slot_minutes <= 0 or seasons.MINUTES_PER_DAY % self.slot_minutes:
            raise ValueError(f"slot_minutes must divide a day, got {self.slot_minutes}")
        if self.min_run < 1:
            raise ValueError(f"min_run must be at least 1, got {self.min_run}")
        if self.rest_day is not None and self.rest_day not in range(7):
            raise ValueError(f"rest_day must be 0 (Monday) to 6 (Sunday) or None: {self.rest_day}")
        if self.z_threshold <= 0 or self.forest_threshold <= 0 or self.burst_tolerance <= 0:
            raise ValueError("z_threshold, forest_threshold and burst_tolerance must be positive")
        if not set(self.weekend_days) <= set(range(7)) or len(set(self.weekend_days)) > 6:
            raise ValueError(f"weekend_days must be days 0 to 6, not all: {self.weekend_days}")
        if self.clean_passes < 0 or self.min_slot_samples < 1:
            raise ValueError("clean_passes must be >= 0 and min_slot_samples >= 1")


def confirm_runs(above: np.ndarray, min_run: int, gaps: np.ndarray | None = None) -> np.ndarray:
    """Flag (cells, T) ROPs that are the ``min_run``-th or later of a run of deviating ROPs.

    A gap (a missing or suspect ROP) neither counts nor breaks a run, so a fault that spans a
    lost ROP stays one run; a scored ROP below threshold breaks it. Causal: a flag never
    depends on a later ROP, as in the running loop.
    """
    above = np.asarray(above, dtype=bool)
    if above.ndim != 2:
        raise ValueError(f"expected a (cells, ROPs) matrix, got shape {above.shape}")
    gaps = np.zeros_like(above) if gaps is None else np.asarray(gaps, dtype=bool)
    hit = above & ~gaps
    if min_run <= 1:
        return hit
    t = np.arange(above.shape[1])
    count = np.cumsum(hit, axis=1)
    last_miss = np.maximum.accumulate(np.where(~above & ~gaps, t, -1), axis=1)
    before = np.where(last_miss >= 0, np.take_along_axis(count, np.clip(last_miss, 0, None), 1), 0)
    return hit & (count - before >= min_run)


def explain(evidence: Evidence, top: int = 3) -> pd.DataFrame:
    """Flagged (cell, ROP)s with their score and the ``top`` KPIs by |z| (largest first)."""
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    top = min(top, len(evidence.kpis))
    cell_pos, time_pos = np.nonzero(evidence.flags)
    z = evidence.z[:, cell_pos, time_pos]  # (kpis, flagged)
    order = np.argsort(-np.nan_to_num(np.abs(z), nan=-1.0), axis=0, kind="stable")[:top]
    names = np.asarray(evidence.kpis, dtype=object)[order]
    chosen = np.take_along_axis(z, order, axis=0)
    return pd.DataFrame(
        {
            "cell": evidence.cells.to_numpy(dtype=object)[cell_pos],
            "period_end": evidence.times[time_pos],
            "score": evidence.score[cell_pos, time_pos],
            "kpis": [tuple(col) for col in names.T],
            "z": [tuple(float(v) for v in col) for col in chosen.T],
        }
    )


def _check_panel(panel: object, min_rops: int = 1) -> None:
    if not isinstance(panel, Panel):
        raise TypeError(
            f"the detector takes a rapp.ml.panel.Panel (Panel.from_frame(long_frame)), "
            f"got {type(panel).__name__}"
        )
    if len(panel.times) < min_rops:
        raise ValueError(f"need a panel of at least {min_rops} ROPs, got {len(panel.times)}")


def _log(values: np.ndarray) -> np.ndarray:
    """log1p of the KPI, negatives (a broken counter) read as 0."""
    return np.log1p(np.clip(values, 0.0, None))


def _first_zero(observed: np.ndarray) -> np.ndarray:
    """(cells, T): ROPs where every KPI reads exactly 0 and the ROP before did not. That is
    what a counter reset looks like; a cell that really went silent reads 0 again next ROP,
    and then it counts. Until then the ROP is a gap, neither a deviation nor a normal ROP."""
    zero = (observed == 0).all(axis=0)
    before = np.zeros_like(zero)
    before[:, 1:] = zero[:, :-1]
    return zero & ~before
