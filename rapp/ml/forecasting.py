"""Turn a model with the estimator contract into per-ROP ``Forecast``s over every cell."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rapp.domain import Forecast
from rapp.ml.baseline import SeasonalBaselineForecaster
from rapp.state import CellState

log = logging.getLogger(__name__)


class RopForecaster:
    """Fits ``model`` on the latest history every ``refit_every`` ROPs and forecasts one KPI.

    The model must follow scikit-learn's contract with a ``predict_quantiles(X)`` method
    returning (quantiles, cells, horizon), like ``SeasonalBaselineForecaster``.
    """

    def __init__(
        self,
        model: SeasonalBaselineForecaster,
        *,
        kpi: str,
        fit_window: int,
        refit_every: int,
        min_history: int = 8,
    ) -> None:
        self.model = model
        self.kpi = kpi
        self.fit_window = fit_window
        self.refit_every = refit_every
        self.min_history = max(min_history, getattr(model, "horizon", 1) + 1)
        self._fitted_at: pd.Timestamp | None = None

    def forecast(self, state: CellState, rop: pd.Timestamp) -> Forecast | None:
        """Forecast every known cell from history up to ``rop``; None if history is too short."""
        history = state.window(self.kpi, rop, min(self.fit_window, state.retention))
        observed = int(np.isfinite(history).any(axis=0).sum())
        if observed < self.min_history:
            # Too little history for the backtest that gives the quantile band its width.
            return None
        if self._due(rop, state.granularity_s):
            try:
                self.model.fit(history)
            except ValueError as exc:
                log.info("forecaster not fitted yet: %s", exc)
                return None
            self._fitted_at = rop
            log.info("forecaster fitted at %s on %s cells x %s ROPs", rop, *history.shape)
        values = self.model.predict_quantiles(history)
        return Forecast(
            kpi=self.kpi,
            issued_at=pd.Timestamp(rop),
            step=pd.Timedelta(seconds=state.granularity_s),
            cells=state.cells,
            quantiles=tuple(self.model.quantiles),
            values=values,
        )

    def _due(self, rop: pd.Timestamp, granularity_s: int) -> bool:
        if self._fitted_at is None:
            return True
        elapsed = (pd.Timestamp(rop) - self._fitted_at) / pd.Timedelta(seconds=granularity_s)
        return elapsed >= self.refit_every
