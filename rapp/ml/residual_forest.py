"""``ResidualForest``: an ``IsolationForest`` over a detector's robust z vectors.

A plain 2-D scikit-learn outlier detector (rows: ROPs, columns: KPIs), so it passes
``check_estimator`` on its own. ``Detector`` uses it to catch combinations of KPIs that no
single KPI shows (throughput down while the load is unchanged). ``rapp.ml.detector``
re-exports it, so models saved while it lived there still load.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

_MAD_TO_SIGMA = 1.4826


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
        """Grow the forest on ``X`` and calibrate ``anomaly_score`` to its typical rows."""
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
