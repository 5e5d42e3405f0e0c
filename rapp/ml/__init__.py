"""Models that turn per-cell KPI history into forecasts and anomaly flags.

Every model follows scikit-learn's estimator contract over a ``Panel`` (one (cells, ROPs) matrix
per KPI), so a notebook can do::

    from rapp.ml import Detector, Forecaster, Panel, read_frame

    panel = Panel.from_frame(read_frame("data/sim"))
    forecaster = Forecaster(kpi="prb_util_dl").fit(panel)
    p50, p90 = forecaster.predict_quantiles(panel)
"""

from rapp.ml.backtest import BacktestResult, backtest, evaluate
from rapp.ml.baseline import SeasonalBaselineForecaster
from rapp.ml.detector import Detector
from rapp.ml.events import EventMetrics, evaluate_events
from rapp.ml.forecaster import Forecaster
from rapp.ml.forecasting import RopForecaster
from rapp.ml.holt_winters import HoltWintersForecaster
from rapp.ml.incidents import Incident, correlate
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.panel import Panel, read_frame
from rapp.ml.registry import Registry

__all__ = [
    "BacktestResult",
    "Detector",
    "EventMetrics",
    "Forecaster",
    "HoltWintersForecaster",
    "Incident",
    "Panel",
    "Registry",
    "RopForecaster",
    "SeasonalBaselineForecaster",
    "SeasonalNaiveForecaster",
    "backtest",
    "correlate",
    "evaluate",
    "evaluate_events",
    "read_frame",
]
