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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL
from rapp.ml.panel import Panel
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

_MAD_TO_SIGMA = 1.4826
_MINUTES_PER_DAY = 1440


class ResidualForest(OutlierMixin, BaseEstimator):
    """``IsolationForest`` over robust z vectors, with its score put on the detector's scale.

    ``anomaly_score`` is 1 at the threshold: the forest's raw score ``threshold_mads`` MADs
    above its median on the training rows. NaN features (a KPI the ROP lacks) count as normal
    (0) and values are clipped to ``clip``, so one absurd KPI cannot dominate the isolation.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int | str = "auto",
        clip: float = 10.0,
        threshold_mads: float = 10.0,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.clip = clip
        self.threshold_mads = threshold_mads
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: np.ndarray, y: None = None) -> ResidualForest:
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        rows = self._prepare(X)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            random_state=self.random_state,
        ).fit(rows)
        raw = -self.forest_.score_samples(rows)
        self.center_ = float(np.median(raw))
        mad = _MAD_TO_SIGMA * float(np.median(np.abs(raw - self.center_)))
        self.spread_ = max(mad, 1e-3)  # identical rows have no spread; keep the score finite
        self.offset_ = -1.0
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        """0 is typical, 1 the threshold, larger more anomalous."""
        check_is_fitted(self, "forest_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False)
        raw = -self.forest_.score_samples(self._prepare(X))
        return (raw - self.center_) / (self.threshold_mads * self.spread_)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """Lower is more abnormal (scikit-learn's convention for outlier detectors)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """-1 for outliers, 1 for inliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        return np.clip(np.nan_to_num(X, nan=0.0), -self.clip, self.clip)


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
    without what the previous pass found deviating) and ``random_state`` (the forest's seed).
    """

    def __init__(
        self,
        kpis: tuple[str, ...] = DEFAULT_KPIS,
        *,
        z_threshold: float = 5.0,
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
        self._learn(logs, week)
        # A holiday in the training history is not what its weekday normally looks like.
        _, _, odd_day = self._deviation(logs, week, panel.times)
        if odd_day.any():
            logs = np.where(odd_day, np.nan, logs)
            self._learn(logs, week)
        for _ in range(self.clean_passes):
            z, _, _ = self._deviation(logs, week, panel.times)
            deviating = self._combine(z) >= 1.0
            if not deviating.any():
                break
            logs = np.where(deviating[None], np.nan, logs)
            self._learn(logs, week)
        return self

    def _learn(self, logs: np.ndarray, week: np.ndarray) -> None:
        """Profile, spread and forest from log KPIs (NaN: not to be learned from)."""
        self.profile_ = self._fit_profile(logs, week, self.min_slot_samples)
        _, n_day = self._n_slots()
        workdays = [d for d in range(7) if d not in self.weekend_days]
        by_day = self.profile_.reshape(*self.profile_.shape[:2], 7, n_day)
        self.workday_profile_ = _nanmedian_last(np.moveaxis(by_day[:, :, workdays], 2, -1))
        resid = self._remove_common_mode(self._held_out_residuals(logs, week))
        self.scale_ = self._fit_scale(resid, week)
        z = resid / self._scale_at(week)
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

    def _fit_profile(self, logs: np.ndarray, week: np.ndarray, min_samples: int) -> np.ndarray:
        """(kpis, cells, week slots) medians. A thin week slot takes the median of its hour
        on days of its type (workday or weekend), then of its hour on any day: an office
        cell's Sunday must not be guessed from its Mondays while Sundays are known."""
        n_week, n_day = self._n_slots()
        slot = np.floor(week).astype(np.int64) % n_week
        weekly, count = _grouped_median(logs, slot, n_week)
        hour = np.arange(n_week) % n_day
        weekend = np.isin(np.arange(n_week) // n_day, self.weekend_days).astype(np.int64)
        by_type, type_count = _grouped_median(logs, (weekend * n_day + hour)[slot], 2 * n_day)
        daily, _ = _grouped_median(logs, slot % n_day, n_day)
        of_type = weekend * n_day + hour
        fallback = np.where(
            type_count[..., of_type] >= min_samples, by_type[..., of_type], daily[..., hour]
        )
        return np.where(count >= min_samples, weekly, fallback)

    def _held_out_residuals(self, logs: np.ndarray, week: np.ndarray) -> np.ndarray:
        """Residuals of each ROP against a profile fitted without it (two folds, alternate ROPs).

        In-sample residuals of a median over a few samples are too small (about 25% with one
        week of history), which would make every later ROP look that much more significant.
        """
        odd = np.arange(logs.shape[-1]) % 2 == 1
        need = max(1, -(-self.min_slot_samples // 2))
        resid = np.empty_like(logs)
        for held_out in (odd, ~odd):  # two folds, each over every cell at once
            profile = self._fit_profile(np.where(held_out, np.nan, logs), week, need)
            resid[..., held_out] = (logs - self._expected_log(profile, week))[..., held_out]
        return resid

    def _fit_scale(self, resid: np.ndarray, week: np.ndarray) -> np.ndarray:
        """(kpis, cells, day slots) robust spread, floored by the cell's overall spread."""
        _, n_day = self._n_slots()
        slot = np.floor(week).astype(np.int64) % n_day
        spread, _ = _grouped_median(np.abs(resid), slot, n_day)
        overall = _nanmedian_last(np.abs(resid))[..., None]
        # A slot whose few samples happen to agree must not claim more certainty than the cell.
        spread = np.fmax(_MAD_TO_SIGMA * spread, 0.5 * _MAD_TO_SIGMA * overall)
        return np.fmax(spread, self.min_scale)

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
        rows = None if np.array_equal(rows, np.arange(len(self.cells_))) else np.clip(rows, 0, None)
        z, expected_log, _ = self._deviation(logs, week, panel.times, rows)
        score = self._combine(z)
        flags = confirm_runs(score >= 1.0, self.min_run, gaps=np.isnan(score))
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
        tolerance = np.where(load & (z > 0), self.burst_tolerance, 1.0)
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
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Robust z (kpis, cells, T), the expected log KPIs, and which ROPs were judged
        against another day's profile (a holiday, or an odd day in the training week).

        ``rows`` maps the panel's cells to fitted ones (None: the same cells, same order);
        only the profile slots the panel's ROPs need are gathered, never the whole profile.
        """
        expected = self._expected_log(self.profile_, week, rows)
        spread = self._scale_at(week, rows)
        odd = np.zeros(len(times), dtype=bool)
        if self.rest_day is not None and logs.shape[1] >= self.min_network_cells:
            others = {
                "rest": self._expected_log(self.profile_, self._as_rest_day(week), rows),
                "workday": self._expected_log(self.workday_profile_, week, rows),
            }
            expected, odd = self._day_profiles(logs, expected, others, spread, week, times)
        resid = self._remove_common_mode(logs - expected)
        return resid / spread, expected, odd

    def _day_profiles(
        self,
        logs: np.ndarray,
        own: np.ndarray,
        others: dict[str, np.ndarray],
        spread: np.ndarray,
        week: np.ndarray,
        times: pd.DatetimeIndex,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per calendar day, the network's own weekly profile or, if most cells fit it badly
        and another clearly better, the rest day's (a holiday) or a typical workday's (the
        training history's same weekday was itself odd).

        Judged over every cell at once, so one cell's anomaly cannot change its day's profile.
        """
        _, n_day = self._n_slots()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are gaps

            def misfit(expected: np.ndarray) -> np.ndarray:
                return np.nanmean(np.minimum(np.abs(logs - expected) / spread, 10.0), axis=0)

            own_misfit = misfit(own)
            other_misfit = {name: misfit(e) for name, e in others.items()}
            expected, odd = own, np.zeros(len(times), dtype=bool)
            day = np.floor(week / n_day).astype(np.int64) % 7
            codes, _ = pd.factorize((times - pd.Timedelta(self.step_ns_ // 2, "ns")).normalize())
            for code in np.unique(codes):  # one pass per calendar day, never per cell
                cols = codes == code
                weekday = day[cols][0]
                usable = {
                    "rest": weekday != self.rest_day,
                    "workday": weekday not in self.weekend_days,
                }
                fit_own = _nanmedian_last(own_misfit[:, cols].reshape(-1))
                fits = {
                    n: _nanmedian_last(m[:, cols].reshape(-1))
                    for n, m in other_misfit.items()
                    if usable[n]
                }
                # A normal day's mean |z| is about 0.8; twice that is a day the profile missed.
                if not fits or not fit_own > 1.6:
                    continue
                best = min(fits, key=fits.__getitem__)
                if fits[best] < 0.6 * fit_own:
                    if expected is own:
                        expected = own.copy()
                    expected[..., cols] = others[best][..., cols]
                    odd[cols] = True
        return expected, odd

    # -- the weekly clock ------------------------------------------------------------------

    def _n_slots(self) -> tuple[int, int]:
        per_day = _MINUTES_PER_DAY // self.slot_minutes
        return 7 * per_day, per_day

    def _week_position(self, times: pd.DatetimeIndex) -> np.ndarray:
        """Each ROP's middle as a fractional week slot (0 = Monday 00:00 UTC)."""
        middle = times - pd.Timedelta(self.step_ns_ // 2, unit="ns")
        minutes = (
            middle.day_of_week.to_numpy() * _MINUTES_PER_DAY
            + middle.hour.to_numpy() * 60
            + middle.minute.to_numpy()
            + middle.second.to_numpy() / 60.0
        )
        return minutes / self.slot_minutes

    def _as_rest_day(self, week: np.ndarray) -> np.ndarray:
        _, n_day = self._n_slots()
        return self.rest_day * n_day + np.mod(week, n_day)

    def _expected_log(
        self, profile: np.ndarray, week: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """(kpis, cells, T) profile linearly interpolated between slot centres (around the
        week's end, or the day's for a daily profile), so a morning ramp is not a staircase."""
        slots = profile.shape[-1]
        centred = week - 0.5
        lo = np.floor(centred).astype(np.int64)
        frac = centred - lo
        return (1 - frac) * _at(profile, rows, lo % slots) + frac * _at(
            profile, rows, (lo + 1) % slots
        )

    def _scale_at(self, week: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        _, n_day = self._n_slots()
        return _at(self.scale_, rows, np.floor(week).astype(np.int64) % n_day)

    def _remove_common_mode(self, resid: np.ndarray) -> np.ndarray:
        """Subtract the median residual over cells per ROP and KPI: what every cell shares
        (trend, weather, a holiday the rest day does not fully explain) is not a cell's anomaly."""
        if resid.shape[1] < self.min_network_cells:
            return resid
        common = _nanmedian_last(np.moveaxis(resid, 1, -1))[:, None, :]
        enough = (~np.isnan(resid)).sum(axis=1, keepdims=True) >= self.min_network_cells
        return resid - np.where(enough, common, 0.0)

    def _check_params(self) -> None:
        if self.slot_minutes <= 0 or _MINUTES_PER_DAY % self.slot_minutes:
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


def _grouped_median(
    values: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """nanmedian and non-NaN count of ``values[..., t]`` per ``group[t]``, all rows at once.

    Columns are gathered into a (..., groups, widest group) block padded with NaN, so one
    sort covers every cell and KPI.
    """
    order = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=n_groups)
    rank = np.arange(len(group)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    index = np.full((n_groups, max(int(sizes.max(initial=0)), 1)), -1)
    index[group[order], rank] = order
    block = values[..., np.clip(index, 0, None)]
    block[..., index < 0] = np.nan
    return _nanmedian_last(block), (~np.isnan(block)).sum(axis=-1)


def _nanmedian_last(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN if none): a sort, which NaN ends, then the
    middle of what is left. ``np.nanmedian`` is an order of magnitude slower on many rows."""
    ordered = np.sort(values, axis=-1)
    count = (~np.isnan(ordered)).sum(axis=-1, keepdims=True)
    low = np.take_along_axis(ordered, np.clip((count - 1) // 2, 0, None), axis=-1)
    high = np.take_along_axis(ordered, np.clip(count // 2, 0, None), axis=-1)
    high = np.where(count % 2 == 1, low, high)  # odd count: one middle value
    return np.where(count > 0, (low + high) / 2, np.nan)[..., 0]


def _at(matrix: np.ndarray, rows: np.ndarray | None, columns: np.ndarray) -> np.ndarray:
    """``matrix[:, rows][..., columns]`` (kpis, cells, T) without copying every column."""
    if rows is None:
        return matrix[..., columns]
    return matrix[:, rows[:, None], columns[None, :]]
