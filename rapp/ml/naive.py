"""Seasonal naive: tomorrow looks like today (or next week like this week), the floor to beat.

It also holds what both baselines share: a point forecast made into quantiles by the baseline's
own errors. ``fit`` backtests the point forecast on the training panel and keeps, per horizon
step, the quantiles of its errors relative to each cell's level, so one band fits small and big
cells alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from rapp.ml import features
from rapp.ml.forecaster import PanelForecaster
from rapp.ml.panel import Panel


class ResidualBandForecaster(PanelForecaster):
    """A point forecaster whose quantiles are its own backtest errors, per horizon step.

    Subclasses implement ``_points(X, origins)`` -> (len(origins), cells, horizon): the point
    forecasts issued at each origin (position of the last ROP seen) of the (cells, T) ``X``,
    and set ``band_origins``, ``max_cells`` and ``random_state``.
    """

    band_origins: int
    max_cells: int
    random_state: int | None

    def _points(self, X: np.ndarray, origins: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def context_rops(self) -> int:
        """How many trailing ROPs a forecast reads (set once fitted)."""
        raise NotImplementedError

    def _fit_band(self, X: np.ndarray, step: pd.Timedelta) -> None:
        """Set ``residual_quantiles_`` (quantiles, horizon) from errors at recent origins."""
        _, week = features.seasons(step)
        self.step_ns_ = int(pd.Timedelta(step).value)  # an int: skops files hold no pandas
        n, T = X.shape
        last = T - 1 - self.horizon
        if last < 1:
            raise ValueError(
                f"need more than {self.horizon + 1} ROPs of {self.kpi} to fit, got {T}"
            )
        if n > self.max_cells:
            rng = check_random_state(self.random_state)
            X = X[np.sort(rng.choice(n, self.max_cells, replace=False))]
        origins = np.arange(max(1, last - self.band_origins + 1), last + 1)
        points = self._points(X, origins)
        steps = np.arange(1, self.horizon + 1)
        actual = X[:, origins[:, None] + steps[None, :]].transpose(1, 0, 2)
        scale = _level(X, week)
        errors = (actual - points) / scale[None, :, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a step with no errors: band 0
            q = np.nanquantile(errors.reshape(-1, self.horizon), self.quantiles, axis=0)
        self.residual_quantiles_ = np.nan_to_num(q, nan=0.0)

    def predict_quantiles(self, panel: Panel) -> np.ndarray:
        """(len(quantiles), cells, horizon): the point forecast plus each quantile's error."""
        check_is_fitted(self, "residual_quantiles_")
        X = self._history(panel)
        self._check_step(panel)
        _, week = features.seasons(panel.step)
        tail = X[:, -self.context_rops() :]
        point = self._points(tail, np.array([tail.shape[1] - 1]))[0]
        band = self.residual_quantiles_[:, None, :] * _level(X, week)[None, :, None]
        out = np.clip(point[None] + band, 0.0, None)
        # A cell with nothing in the window has no forecast, whatever the recursion coasted to.
        out[:, ~np.isfinite(tail).any(axis=1)] = np.nan
        return out


class SeasonalNaiveForecaster(ResidualBandForecaster):
    """Each future ROP is the same ROP one season ago (``season`` is "day" or "week").

    A missing value one season ago falls back to the same phase up to ``lookback`` seasons
    before, then to the cell's last observed value; a cell with no history stays NaN.
    """

    def __init__(
        self,
        kpi: str = "prb_util_dl",
        horizon: int = 8,
        quantiles: Sequence[float] = (0.5, 0.9),
        *,
        season: str = "day",
        lookback: int = 4,
        band_origins: int = 672,
        max_cells: int = 1_000,
        random_state: int | None = 0,
    ) -> None:
        self.kpi = kpi
        self.horizon = horizon
        self.quantiles = quantiles
        self.season = season
        self.lookback = lookback
        self.band_origins = band_origins
        self.max_cells = max_cells
        self.random_state = random_state

    def fit(self, panel: Panel, y: None = None) -> SeasonalNaiveForecaster:
        self._check_params()
        if self.season not in ("day", "week"):
            raise ValueError(f"season must be 'day' or 'week', got {self.season!r}")
        X = self._history(panel)
        day, week = features.seasons(panel.step)
        self.season_length_ = day if self.season == "day" else week
        if self.horizon > self.season_length_:
            raise ValueError(
                f"horizon {self.horizon} is longer than a season ({self.season_length_} ROPs)"
            )
        self._fit_band(X, panel.step)
        return self

    def context_rops(self) -> int:
        return self.lookback * self.season_length_ + 1

    def _points(self, X: np.ndarray, origins: np.ndarray) -> np.ndarray:
        steps = np.arange(1, self.horizon + 1)
        targets = origins[:, None] + steps[None, :]  # (origins, horizon)
        out = np.full((len(origins), X.shape[0], self.horizon), np.nan)
        for k in range(self.lookback, 0, -1):
            # Nearest season last, so it wins wherever it is observed.
            idx = targets - k * self.season_length_
            taken = X[:, np.clip(idx, 0, None)].transpose(1, 0, 2)
            taken = np.where((idx >= 0)[:, None, :], taken, np.nan)
            out = np.where(np.isnan(taken), out, taken)
        last = _last_observed(X, origins)  # (origins, cells)
        return np.where(np.isnan(out), last[:, :, None], out)


def _level(X: np.ndarray, week: int) -> np.ndarray:
    """Each cell's mean over its last week, 1 where unknown, to make errors relative."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmean(X[:, -week:], axis=1)
    return np.where(np.isfinite(level) & (level > 0), level, 1.0)


def _last_observed(X: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """(origins, cells): each cell's latest observed value up to each origin, NaN if none."""
    seen = np.isfinite(X)
    if len(origins) == 1:
        # Inference: scan back from the one origin instead of filling the whole history.
        o = int(origins[0])
        pos = o - np.argmax(seen[:, o::-1], axis=1)
        out = X[np.arange(X.shape[0]), pos]
        out[~seen[:, : o + 1].any(axis=1)] = np.nan
        return out[None, :]
    filled = np.maximum.accumulate(np.where(seen, np.arange(X.shape[1]), -1), axis=1)
    pos = filled[:, origins]  # (cells, origins)
    out = np.where(pos >= 0, np.take_along_axis(X, np.clip(pos, 0, None), axis=1), np.nan)
    return out.T
