"""Seasonal baseline forecaster: the floor every learned model must beat.

It predicts each future ROP as the mean of the same phase in the last ``n_seasons`` seasons,
shifted toward the most recent level, and learns one thing in ``fit``: the distribution of its own
errors, per horizon step, from a rolling-origin backtest on the training history. Those error
quantiles turn the point forecast into P50/P90 bands, which the planner scales on.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted


class SeasonalBaselineForecaster(BaseEstimator):
    """Per-cell seasonal-naive forecasts with empirical quantile bands.

    ``X`` is a (cells, T) matrix of a KPI's history, oldest first, NaN where a ROP is missing.
    ``predict`` returns (cells, horizon) medians; ``predict_quantiles`` returns
    (len(quantiles), cells, horizon).
    """

    def __init__(
        self,
        season_length: int = 96,
        n_seasons: int = 2,
        horizon: int = 4,
        level_weight: float = 0.5,
        quantiles: tuple[float, ...] = (0.5, 0.9),
        n_origins: int = 24,
    ) -> None:
        self.season_length = season_length
        self.n_seasons = n_seasons
        self.horizon = horizon
        self.level_weight = level_weight
        self.quantiles = quantiles
        self.n_origins = n_origins

    def fit(self, X: np.ndarray, y: None = None) -> SeasonalBaselineForecaster:
        """Learn the error quantiles per horizon step by backtesting on ``X`` itself."""
        X = self._check(X)
        T = X.shape[1]
        first = max(1, T - self.horizon - self.n_origins + 1)
        errors = [
            X[:, origin : origin + self.horizon] - self._point(X[:, :origin])
            for origin in range(first, T - self.horizon + 1)
        ]
        if not errors:
            raise ValueError(f"need more than {self.horizon} ROPs of history to fit, got {T}")
        stacked = np.concatenate(errors, axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(stacked, self.quantiles, axis=0)
        self.residual_quantiles_ = np.nan_to_num(q, nan=0.0)
        self.n_features_in_ = T
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_quantiles(X)[self._median_index()]

    def predict_quantiles(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "residual_quantiles_")
        point = self._point(self._check(X))
        return point[None, :, :] + self.residual_quantiles_[:, None, :]

    def _point(self, X: np.ndarray) -> np.ndarray:
        """Seasonal mean of each future step, pulled toward the latest observed level."""
        _n, T = X.shape
        steps = np.arange(1, self.horizon + 1)
        lags = np.arange(1, self.n_seasons + 1)[:, None] * self.season_length
        idx = T - 1 + steps[None, :] - lags  # (seasons, horizon): same phase, k seasons back
        valid = idx >= 0
        with warnings.catch_warnings():
            # All-NaN rows (a cell with no history at that phase) are expected; they become NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            gathered = np.where(valid[None], X[:, np.clip(idx, 0, None)], np.nan)
            seasonal = np.nanmean(gathered, axis=1)
            last = _last_observed(X)
            anchor_idx = T - 1 - lags[:, 0]
            anchor = np.nanmean(
                np.where(anchor_idx >= 0, X[:, np.clip(anchor_idx, 0, None)], np.nan), axis=1
            )
        shift = np.nan_to_num(last - anchor, nan=0.0)
        point = seasonal + self.level_weight * shift[:, None]
        # Without a full season of history, persistence is the honest fallback.
        return np.where(np.isnan(point), last[:, None], point)

    def _median_index(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.quantiles) - 0.5)))

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be (cells, ROPs), got shape {X.shape}")
        return X


def _last_observed(X: np.ndarray) -> np.ndarray:
    """The most recent non-NaN value of each row (NaN if the row is empty)."""
    mask = ~np.isnan(X)
    last_idx = X.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    out = X[np.arange(X.shape[0]), last_idx]
    out[~mask.any(axis=1)] = np.nan
    return out
