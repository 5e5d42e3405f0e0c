"""The global forecaster: one gradient-boosted model per quantile over every cell's features.

``PanelForecaster`` is the contract every forecaster here shares (the baselines too): ``fit`` on
a ``Panel``, then ``predict_quantiles`` for the ``horizon`` ROPs after the last ROP of any panel,
so the runtime, the backtest and a notebook call every model the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from rapp.domain import Forecast
from rapp.ml import features
from rapp.ml.panel import Panel


class PanelForecaster(BaseEstimator):
    """What every forecaster of one KPI over a ``Panel`` offers besides ``fit``.

    Subclasses store ``kpi``, ``horizon`` and ``quantiles`` and implement ``fit`` and
    ``predict_quantiles`` -> (len(quantiles), cells, horizon).
    """

    kpi: str
    horizon: int
    quantiles: Sequence[float]
    step_ns_: int

    def predict_quantiles(self, panel: Panel) -> np.ndarray:
        raise NotImplementedError

    def context_rops(self) -> int:
        """How many trailing ROPs a fitted model reads to forecast: what a caller must keep
        and hand it (the loop's state window, a backtest's history before the test)."""
        check_is_fitted(self, "step_ns_")
        return features.context_length(pd.Timedelta(self.step_ns_, unit="ns"))

    def predict(self, panel: Panel) -> np.ndarray:
        """The (cells, horizon) median forecast (the quantile nearest 0.5)."""
        return self.predict_quantiles(panel)[self._median_index()]

    def forecast(self, panel: Panel) -> Forecast:
        """The quantile forecast issued at the panel's last ROP, as the planner takes it."""
        return Forecast(
            kpi=self.kpi,
            issued_at=pd.Timestamp(panel.times[-1]),
            step=panel.step,
            cells=panel.cells,
            quantiles=tuple(float(q) for q in self.quantiles),
            values=self.predict_quantiles(panel),
        )

    def _median_index(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.quantiles, dtype=float) - 0.5)))

    def _check_params(self) -> None:
        if not isinstance(self.horizon, int | np.integer) or self.horizon < 1:
            raise ValueError(f"horizon must be a positive number of ROPs, got {self.horizon!r}")
        q = np.asarray(self.quantiles, dtype=float)
        if q.ndim != 1 or q.size == 0 or ((q <= 0) | (q >= 1)).any():
            raise ValueError(f"quantiles must be a non-empty list in (0, 1), got {self.quantiles}")

    def _check_step(self, panel: Panel) -> None:
        """Lags are counted in ROPs, so a panel of another ROP length than ``fit``'s is an error."""
        if panel.step.value != self.step_ns_:
            fitted = pd.Timedelta(self.step_ns_, unit="ns")
            raise ValueError(f"model fitted on {fitted} ROPs, panel has {panel.step} ROPs")

    def _history(self, panel: Panel) -> np.ndarray:
        """The KPI's (cells, T) float64 matrix, with clear errors for what is not a panel."""
        if not isinstance(panel, Panel):
            raise TypeError(
                f"expected a rapp.ml.panel.Panel, got {type(panel).__name__}; "
                "build one with Panel.from_frame(long_frame)"
            )
        if len(panel.times) < 2:
            raise ValueError("a panel needs at least two ROPs to forecast from")
        return np.asarray(panel.kpi(self.kpi), dtype=np.float64)


class Forecaster(PanelForecaster):
    """Per-cell multi-horizon quantile forecasts from one model shared by every cell.

    One ``HistGradientBoostingRegressor(loss="quantile")`` per quantile (or per quantile and
    step with ``per_step=True``) over ``rapp.ml.features.FEATURES``, the horizon step being a
    feature. The trees learn the actual over ``features.expected`` (past days' profile times
    today's level): a correction to a good guess, which few small trees do far better than
    building the guess from its parts. A forecast reads two weeks of history
    (``context_rops``) and still works, less well, on one. Training samples are (cell,
    origin, step) triples drawn at random from the panel (at most ``max_cells`` cells and
    ``max_samples`` triples), so fit time is bounded whatever the panel's size. Trees are
    kept few and small because inference runs every ROP over every cell. Forecasts are
    non-negative (every KPI here is) and NaN for a cell with no observed ROP in the last
    week. ``n_threads`` caps the OpenMP threads of fit and predict (None: all cores): on a
    busy machine, boosting's short parallel regions wait on descheduled threads, and fit was
    measured 15-25x slower with 2 threads than with 1 on 2 loaded cores.
    """

    def __init__(
        self,
        kpi: str = "prb_util_dl",
        horizon: int = 8,
        quantiles: Sequence[float] = (0.5, 0.9),
        *,
        max_iter: int = 20,
        learning_rate: float = 0.3,
        max_leaf_nodes: int = 63,
        min_samples_leaf: int = 50,
        l2_regularization: float = 0.0,
        per_step: bool = False,
        max_samples: int = 200_000,
        max_cells: int = 2_000,
        n_threads: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.kpi = kpi
        self.horizon = horizon
        self.quantiles = quantiles
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.per_step = per_step
        self.max_samples = max_samples
        self.max_cells = max_cells
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, panel: Panel, y: None = None) -> Forecaster:
        """Learn each quantile of the next ``horizon`` ROPs, relative to each cell's level."""
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._fit(panel)

    def predict_quantiles(self, panel: Panel) -> np.ndarray:
        """(len(quantiles), cells, horizon) forecasts after the panel's last ROP."""
        check_is_fitted(self, "estimators_")
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._predict_quantiles(panel)

    def _fit(self, panel: Panel) -> Forecaster:
        self._check_params()
        X = self._history(panel)
        rng = check_random_state(self.random_state)
        day, week = features.seasons(panel.step)
        n, T = X.shape
        # Origins from a week in, not from a full context (two weeks): the live loop may hold
        # only a week, and samples with one week of profile behind them teach the model what
        # that is worth (measured: 7.2 % instead of 7.8 % WAPE 1h on one week of history, and
        # no worse on two). Shorter panels start after a day.
        first = week if T - week - self.horizon >= day else min(day, T // 2)
        last = T - 1 - self.horizon
        if last < first:
            raise ValueError(
                f"need at least {first + self.horizon + 1} ROPs of {self.kpi} to fit, got {T}"
            )
        if n > self.max_cells:
            X = X[np.sort(rng.choice(n, self.max_cells, replace=False))]
        cells, origins, steps = _draw(rng, X.shape[0], first, last, self.horizon, self.max_samples)
        y_raw = X[cells, origins + steps]
        keep = np.isfinite(y_raw)
        if keep.sum() < 10 * self.min_samples_leaf:
            raise ValueError(f"too few observed {self.kpi} values to fit ({int(keep.sum())})")
        cells, origins, steps = cells[keep], origins[keep], steps[keep]
        scale = features.cell_scale(X, cells, origins, day)
        design = features.design(X, panel.times, cells, origins, steps, scale)
        target = y_raw[keep] / (scale * features.expected(design))
        seeds = rng.randint(np.iinfo(np.int32).max, size=len(self.quantiles))
        groups = [steps == h for h in range(1, self.horizon + 1)] if self.per_step else [None]
        self.estimators_ = [
            [self._fit_one(q, int(seed), design, target, rows) for rows in groups]
            for q, seed in zip(self.quantiles, seeds, strict=True)
        ]
        self.step_ns_ = int(panel.step.value)  # an int: skops files hold no pandas types
        self.n_features_in_ = design.shape[1]
        self.feature_names_ = features.FEATURES
        return self

    def _predict_quantiles(self, panel: Panel) -> np.ndarray:
        history = self._history(panel)
        self._check_step(panel)
        if tuple(self.feature_names_) != features.FEATURES:
            # A model of another feature set would predict garbage (or fail on the count).
            raise ValueError(
                f"model fitted on features {list(self.feature_names_)}, this rapp builds "
                f"{list(features.FEATURES)}: retrain it (rapp train forecaster)"
            )
        context = features.context_length(panel.step)
        X = history[:, -context:]
        n, T = X.shape
        day, _ = features.seasons(panel.step)
        cells = np.repeat(np.arange(n), self.horizon)
        steps = np.tile(np.arange(1, self.horizon + 1), n)
        origins = np.full(cells.shape, T - 1)
        scale = features.cell_scale(X, cells, origins, day)
        design = features.design(X, panel.times[-context:], cells, origins, steps, scale)
        out = np.empty((len(self.quantiles), n, self.horizon))
        level = scale * features.expected(design)
        for qi, per_quantile in enumerate(self.estimators_):
            if self.per_step:
                flat = np.empty(len(cells))
                for h, model in enumerate(per_quantile, start=1):
                    rows = steps == h
                    flat[rows] = model.predict(design[rows])
            else:
                flat = per_quantile[0].predict(design)
            out[qi] = (flat * level).reshape(n, self.horizon)
        # Separate quantile models can cross; sorting restores P50 <= P90 without bias.
        order = np.argsort(np.asarray(self.quantiles, dtype=float))
        out[order] = np.sort(out[order], axis=0)
        np.clip(out, 0.0, None, out=out)
        # No forecast for a cell silent for a week; only the few silent for a day are looked at.
        silent = ~np.isfinite(X[:, -day:]).any(axis=1)
        silent[silent] = ~np.isfinite(X[silent, -7 * day :]).any(axis=1)
        out[:, silent] = np.nan
        return out

    def _fit_one(
        self,
        quantile: float,
        seed: int,
        design: np.ndarray,
        target: np.ndarray,
        rows: np.ndarray | None,
    ) -> HistGradientBoostingRegressor:
        model = HistGradientBoostingRegressor(
            loss="quantile",
            quantile=float(quantile),
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=seed,
        )
        if rows is None:
            return model.fit(design, target)
        return model.fit(design[rows], target[rows])


def _draw(
    rng: np.random.RandomState, n_cells: int, first: int, last: int, horizon: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (cell, origin, step) triples, every one if there are fewer than ``size``."""
    total = n_cells * (last - first + 1) * horizon
    flat = np.arange(total) if total <= size else rng.randint(total, size=size)
    cells, rest = np.divmod(flat, (last - first + 1) * horizon)
    origins, steps = np.divmod(rest, horizon)
    return cells, origins + first, steps + 1
