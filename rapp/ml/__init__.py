"""Models that turn per-cell KPI history into forecasts (scikit-learn estimator contract)."""

from rapp.ml.baseline import SeasonalBaselineForecaster
from rapp.ml.forecasting import RopForecaster

__all__ = ["RopForecaster", "SeasonalBaselineForecaster"]
