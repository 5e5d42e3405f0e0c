"""The loop's forecaster: the registry's champion over live history, or the seasonal baseline.

A trained model from the registry (``rapp models promote``) is served as soon as its pointer
changes, without a restart. Until there is one, or when the champion cannot serve (it does not
forecast the planner's quantile, it fails), the seasonal baseline, refitted on the live history
every ``refit_every`` ROPs, stands in: the loop never stops deciding because of a model. A
shadow challenger is forecast beside the champion, for the runtime to plan and log only.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import Forecast
from rapp.ml.baseline import SeasonalBaselineForecaster
from rapp.ml.drift import drift_level, psi
from rapp.ml.live import LiveModel
from rapp.ml.panel import Panel
from rapp.state import CellState

log = logging.getLogger(__name__)

BASELINE = "seasonal baseline"
_DRIFT_EVERY = pd.Timedelta(hours=1)


def state_panel(state: CellState, kpi: str, end: pd.Timestamp, length: int) -> Panel:
    """The last ``length`` ROPs up to ``end`` of one KPI in state, as a model's input."""
    length = min(length, state.retention)
    step = pd.Timedelta(seconds=state.granularity_s)
    times = pd.date_range(end=pd.Timestamp(end), periods=length, freq=step)
    values = state.window(kpi, end, length).astype(np.float64)
    return Panel(state.cells, times, {kpi: values})


class RopForecaster:
    """Forecasts one KPI for every cell at the end of a ROP.

    ``live`` serves the registry's champion (and an optional shadow); ``baseline`` (matrix
    contract, ``predict_quantiles(X)`` of (quantiles, cells, horizon)) is the stand-in, fitted on
    the latest ``fit_window`` ROPs every ``refit_every`` ROPs. ``quantile`` is the one the
    planner needs: a champion that does not forecast it is not served.
    """

    def __init__(
        self,
        baseline: SeasonalBaselineForecaster,
        *,
        kpi: str,
        fit_window: int,
        refit_every: int,
        min_history: int = 8,
        live: LiveModel | None = None,
        quantile: float = 0.9,
    ) -> None:
        self.model = baseline
        self.kpi = kpi
        self.fit_window = fit_window
        self.refit_every = refit_every
        self.min_history = max(min_history, getattr(baseline, "horizon", 1) + 1)
        self.live = live
        self.quantile = quantile
        self._fitted_at: pd.Timestamp | None = None
        self._refused: str | None = None
        self._serving = BASELINE
        self.drift_: dict[str, float] = {}
        self._drift_at: pd.Timestamp | None = None

    def forecast(self, state: CellState, rop: pd.Timestamp) -> Forecast | None:
        """Forecast every known cell from history up to ``rop``; None if history is too short
        for the baseline and there is no champion."""
        champion = self.live.get() if self.live is not None else None
        if champion is not None:
            served = self._serve(champion, self._label(self.live.version), state, rop)
            if served is not None:
                self._serving = served.model
                return served
        self._serving = BASELINE
        return self._baseline(state, rop)

    def history_rops(self) -> int:
        """ROPs of history the loop must hold for this forecaster: the baseline's fit window
        and what the champion and the shadow read (a model that cannot say counts as none)."""
        needed = [self.fit_window]
        if self.live is not None:
            for model in (self.live.get(), self.live.shadow()):
                try:
                    needed.append(int(model.context_rops()) if model is not None else 0)
                except Exception:  # not fitted, or not a forecaster: _serve says why
                    continue
        return max(needed)

    def drift(self, state: CellState, rop: pd.Timestamp) -> dict[str, float]:
        """PSI of the last day of live input against the serving champion's training data,
        recomputed once an hour (empty while the baseline serves: it is fitted on live data,
        it cannot drift)."""
        card = self.live.card if self.live is not None else None
        if self._serving == BASELINE or card is None or card.drift_reference is None:
            self.drift_, self._drift_at = {}, None
            return self.drift_
        if self._drift_at is not None and pd.Timestamp(rop) - self._drift_at < _DRIFT_EVERY:
            return self.drift_  # a day's distribution barely moves in an hour (0.5 s at 100k)
        self._drift_at = pd.Timestamp(rop)
        reference = card.drift_reference.only([self.kpi])
        day = 86_400 // state.granularity_s
        self.drift_ = (
            psi(reference, state_panel(state, self.kpi, rop, day)) if reference.features else {}
        )
        return self.drift_

    def status(self) -> dict[str, Any]:
        """What serves, what failed, and the input drift: for the API and operators."""
        live = self.live
        return {
            "kpi": self.kpi,
            "serving": self._serving,
            "registry_name": live.name if live else None,
            "champion": live.version if live else None,
            "shadow": live.shadow_version if live else None,
            "error": (live.error if live else None) or self._refused,
            "drift": {
                f: {"psi": None if np.isnan(v) else round(v, 4), "level": drift_level(v)}
                for f, v in self.drift_.items()
            },
        }

    @property
    def has_shadow(self) -> bool:
        """A shadow challenger is configured (loaded or not)."""
        return self.live is not None and self.live.shadow_version is not None

    def shadow(self, state: CellState, rop: pd.Timestamp) -> Forecast | None:
        """The shadow challenger's forecast (None without one): for logging, never enacting."""
        challenger = self.live.shadow() if self.live is not None else None
        if challenger is None or self.live is None:
            return None
        label = f"{self._label(self.live.shadow_version)} (shadow)"
        return self._serve(challenger, label, state, rop, champion=False)

    def _serve(
        self, model: Any, label: str, state: CellState, rop: pd.Timestamp, *, champion: bool = True
    ) -> Forecast | None:
        """``model``'s forecast, or None (logged, and kept for ``status`` when it is the
        champion's) if it cannot serve the planner."""
        if getattr(model, "kpi", self.kpi) != self.kpi or self.quantile not in tuple(
            getattr(model, "quantiles", ())
        ):
            self._refuse(
                label,
                f"it forecasts {getattr(model, 'kpi', '?')} at quantiles "
                f"{tuple(getattr(model, 'quantiles', ()))}; the planner needs {self.kpi} "
                f"at {self.quantile}",
                champion,
            )
            return None
        try:
            forecast = model.forecast(state_panel(state, self.kpi, rop, model.context_rops()))
        except Exception as exc:  # any model failure: the baseline decides this ROP
            self._refuse(label, f"{type(exc).__name__}: {exc}", champion)
            return None
        if champion:
            self._refused = None
        return dataclasses.replace(forecast, model=label)

    def _refuse(self, label: str, why: str, champion: bool) -> None:
        if not champion:
            log.warning("%s not forecast: %s", label, why)
            return
        message = f"{label} not served, the seasonal baseline stands in: {why}"
        if message != self._refused:  # once per cause, not every ROP
            log.error("%s", message)
            self._refused = message

    def _label(self, version: str | None) -> str:
        name = self.live.name if self.live is not None else "model"
        return f"{name} {version}" if version else name

    def _baseline(self, state: CellState, rop: pd.Timestamp) -> Forecast | None:
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
            model=BASELINE,
        )

    def _due(self, rop: pd.Timestamp, granularity_s: int) -> bool:
        if self._fitted_at is None:
            return True
        elapsed = (pd.Timestamp(rop) - self._fitted_at) / pd.Timedelta(seconds=granularity_s)
        return elapsed >= self.refit_every
