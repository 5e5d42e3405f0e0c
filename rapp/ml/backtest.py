"""Rolling-origin backtest: how a fitted forecaster would have done, ROP by ROP, on held-out data.

From each origin the model sees only the panel up to that ROP and forecasts the next
``horizon`` ROPs for every cell; the forecasts are kept next to the actuals so that the figures
(WAPE, sMAPE, busy hour, P90 coverage, interval width) and the plots (forecast vs actual with the
band, error by hour of day) all come from one run. Origins loop in Python; cells never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rapp.ml import features
from rapp.ml.panel import Panel

HOURS = 24


class QuantileModel(Protocol):
    """What the backtest needs of a model: every forecaster in ``rapp.ml`` has it."""

    kpi: str
    horizon: int
    quantiles: Any

    def fit(self, panel: Panel, y: None = None) -> Any: ...

    def context_rops(self) -> int: ...

    def predict_quantiles(self, panel: Panel) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Forecasts and actuals of one backtest, and the figures a model card reports.

    ``predictions[o, q, c, h]`` is quantile ``quantiles[q]`` for cell ``cells[c]`` issued at
    ``origins[o]`` for ``origins[o] + (h + 1) * step``; ``actuals[o, c, h]`` is what happened
    (NaN if missing). ``busy_hour[c]`` is the cell's busiest hour of day (UTC), -1 if unknown.
    Errors are fractions (0.12 is 12 %).
    """

    kpi: str
    step: pd.Timedelta
    quantiles: tuple[float, ...]
    cells: pd.Index
    origins: pd.DatetimeIndex
    predictions: np.ndarray
    actuals: np.ndarray
    busy_hour: np.ndarray

    @property
    def horizon(self) -> int:
        return int(self.actuals.shape[2])

    @property
    def median(self) -> np.ndarray:
        """(origins, cells, horizon) forecasts of the quantile nearest 0.5."""
        q = np.asarray(self.quantiles)
        return self.predictions[:, int(np.argmin(np.abs(q - 0.5)))]

    def target_times(self) -> np.ndarray:
        """(origins, horizon) int64 ns period ends each forecast is for."""
        steps = np.arange(1, self.horizon + 1) * self.step.value
        return self.origins.as_unit("ns").asi8[:, None] + steps[None, :]

    def at_busy_hour(self) -> np.ndarray:
        """(origins, cells, horizon) mask of targets in the cell's busiest hour."""
        hour = (self.target_times() % (HOURS * 3_600_000_000_000)) // 3_600_000_000_000
        return hour[:, None, :] == self.busy_hour[None, :, None]

    def wape(
        self, mask: np.ndarray | None = None, axis: int | tuple[int, ...] | None = None
    ) -> np.ndarray:
        """Sum of absolute errors over sum of absolute actuals (P50), where both exist."""
        err, act = self._paired(mask)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(err).sum(axis=axis) / np.abs(act).sum(axis=axis)

    def smape(
        self, mask: np.ndarray | None = None, axis: int | tuple[int, ...] | None = None
    ) -> np.ndarray:
        """Mean of 2|error| / (|actual| + |forecast|), a point where both are 0 counting 0."""
        err, act = self._paired(mask)
        pred = act + err
        denom = np.abs(act) + np.abs(pred)
        with np.errstate(invalid="ignore", divide="ignore"):
            term = np.where(denom > 0, 2 * np.abs(err) / denom, 0.0)
            valid = self._valid(mask)
            return np.where(valid, term, 0.0).sum(axis=axis) / valid.sum(axis=axis)

    def wape_at(self, lead: pd.Timedelta | str) -> float:
        """WAPE of the forecasts ``lead`` ahead (``"1h"`` is step 4 at 15-minute ROPs)."""
        h = int(pd.Timedelta(lead) / self.step)
        if not 1 <= h <= self.horizon:
            raise ValueError(f"lead {lead} is outside the horizon of {self.horizon} ROPs")
        return float(self.wape(axis=(0, 1))[h - 1])

    def coverage(self, q: float = 0.9) -> float:
        """Share of actuals at or below the ``q`` forecast (0.9 of them, if calibrated)."""
        pred = self._quantile(q)
        valid = np.isfinite(self.actuals) & np.isfinite(pred)
        return float((self.actuals <= pred)[valid].mean()) if valid.any() else float("nan")

    def interval_width(self) -> float:
        """Mean gap between the highest and lowest quantile, relative to the mean actual."""
        order = np.argsort(self.quantiles)
        gap = self.predictions[:, order[-1]] - self.predictions[:, order[0]]
        valid = np.isfinite(gap) & np.isfinite(self.actuals)
        return float(gap[valid].mean() / np.abs(self.actuals[valid]).mean())

    def error_by_hour(self) -> pd.DataFrame:
        """WAPE and sMAPE of the P50 by the target's hour of day (UTC), for the report plot."""
        hour = (self.target_times() % (HOURS * 3_600_000_000_000)) // 3_600_000_000_000
        rows = {}
        for h in range(HOURS):
            mask = np.broadcast_to((hour == h)[:, None, :], self.actuals.shape)
            rows[h] = (float(self.wape(mask)), float(self.smape(mask)))
        return pd.DataFrame.from_dict(rows, orient="index", columns=["wape", "smape"]).rename_axis(
            "hour"
        )

    def series(self, cell: str, step: int = 1) -> pd.DataFrame:
        """One cell's actual and forecast quantiles ``step`` ROPs ahead, by target time."""
        try:
            c = self.cells.get_loc(cell)
        except KeyError:
            raise KeyError(f"cell {cell!r} not in the backtest") from None
        if not 1 <= step <= self.horizon:
            raise ValueError(f"step must be within 1..{self.horizon}, got {step}")
        index = pd.DatetimeIndex(self.target_times()[:, step - 1], tz="UTC", name="period_end")
        frame = pd.DataFrame({"actual": self.actuals[:, c, step - 1]}, index=index)
        for qi, q in enumerate(self.quantiles):
            frame[f"p{round(q * 100):d}"] = self.predictions[:, qi, c, step - 1]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The figures for a model card: plain floats and lists, JSON-ready."""
        busy = self.at_busy_hour()
        upper = max(self.quantiles)
        minutes = [int((h + 1) * self.step / pd.Timedelta(minutes=1)) for h in range(self.horizon)]
        return {
            "kpi": self.kpi,
            "cells": len(self.cells),
            "origins": len(self.origins),
            "first_origin": self.origins[0].isoformat() if len(self.origins) else None,
            "last_origin": self.origins[-1].isoformat() if len(self.origins) else None,
            "step_minutes": self.step / pd.Timedelta(minutes=1),
            "wape": _num(self.wape()),
            "smape": _num(self.smape()),
            "wape_busy_hour": _num(self.wape(busy)),
            "smape_busy_hour": _num(self.smape(busy)),
            "lead_minutes": minutes,
            "wape_by_step": [_num(v) for v in self.wape(axis=(0, 1))],
            "smape_by_step": [_num(v) for v in self.smape(axis=(0, 1))],
            f"coverage_p{round(upper * 100):d}": _num(self.coverage(upper)),
            "interval_width": _num(self.interval_width()),
        }

    def _quantile(self, q: float) -> np.ndarray:
        try:
            return self.predictions[:, self.quantiles.index(q)]
        except ValueError:
            raise KeyError(f"quantile {q} not forecast; have {self.quantiles}") from None

    def _valid(self, mask: np.ndarray | None) -> np.ndarray:
        valid = np.isfinite(self.actuals) & np.isfinite(self.median)
        return valid if mask is None else valid & mask

    def _paired(self, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Errors and actuals with 0 where a point does not count, so sums skip it."""
        valid = self._valid(mask)
        act = np.where(valid, self.actuals, 0.0)
        err = np.where(valid, self.median - self.actuals, 0.0)
        return err, act


def backtest(
    model: QuantileModel,
    panel: Panel,
    *,
    origins: Iterable[int] | None = None,
    start: int | None = None,
    every: int = 4,
    horizon: int | None = None,
    busy_hour: np.ndarray | None = None,
) -> BacktestResult:
    """Forecast with the fitted ``model`` from many origins of ``panel`` and keep the results.

    ``origins`` are positions in ``panel.times`` of the last ROP each forecast sees; by default
    every ``every``-th ROP from ``start`` (default: a week in, or halfway for shorter panels)
    while the whole horizon is still inside the panel. ``horizon`` (at most the model's)
    shortens the forecasts scored. ``busy_hour`` per cell defaults to the busiest hour of the
    panel up to the first origin, which is the training data when the panel starts with it.
    Memory: origins x quantiles x cells x horizon float32 values are kept.
    """
    H = model.horizon if horizon is None else horizon
    if not 1 <= H <= model.horizon:
        raise ValueError(f"horizon must be within 1..{model.horizon} (the model's), got {H}")
    X = np.asarray(panel.kpi(model.kpi), dtype=np.float64)
    T = X.shape[1]
    if origins is None:
        if start is None:
            week = features.seasons(panel.step)[1]
            start = week if T - week > H else T // 2
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        positions = np.arange(start, T - H, every)
    else:
        positions = np.asarray(list(origins), dtype=int)
    if positions.size == 0:
        raise ValueError(f"no origin leaves {H} ROPs to score in a panel of {T} ROPs")
    if positions.min() < 0 or positions.max() > T - 1 - H:
        raise ValueError(f"origins must be within 0..{T - 1 - H} so that {H} ROPs follow them")
    if busy_hour is None:
        busy_hour = busy_hours(panel.window(0, int(positions.min()) + 1), model.kpi)
    busy_hour = np.asarray(busy_hour, dtype=int)
    if busy_hour.shape != (len(panel.cells),):
        raise ValueError(f"busy_hour must have one entry per cell ({len(panel.cells)})")
    quantiles = tuple(float(q) for q in model.quantiles)
    predictions = np.empty((len(positions), len(quantiles), len(panel.cells), H), np.float32)
    for i, o in enumerate(positions):
        predictions[i] = model.predict_quantiles(panel.window(0, int(o) + 1))[:, :, :H]
    steps = np.arange(1, H + 1)
    actuals = X[:, positions[:, None] + steps[None, :]].transpose(1, 0, 2).astype(np.float32)
    return BacktestResult(
        kpi=model.kpi,
        step=panel.step,
        quantiles=quantiles,
        cells=panel.cells,
        origins=panel.times[positions],
        predictions=predictions,
        actuals=actuals,
        busy_hour=busy_hour,
    )


def evaluate(
    model: QuantileModel,
    train: Panel,
    test: Panel,
    *,
    fit: bool = False,
    every: int = 4,
    warmup: int | None = None,
) -> BacktestResult:
    """Backtest ``model`` over ``test``, with busy hours from ``train`` (fit on it if ``fit``).

    When ``test`` continues ``train`` (same ROP length, starting one ROP after it), the
    forecasts from test's first ROPs read train's tail as history and every test ROP is
    scored. Otherwise ``test`` must bring its own history: origins start after ``warmup`` ROPs
    of it (default a week, or half of a shorter panel).
    """
    if fit:
        model.fit(train)
    busy = busy_hours(train, model.kpi)
    busy = pd.Series(busy, index=train.cells).reindex(test.cells, fill_value=-1).to_numpy()
    if _continues(train, test):
        context = model.context_rops()
        head = train.select(test.cells).window(-context, None)
        history = _concat(head, test, model.kpi)
        start = len(head.times) - 1
        return backtest(model, history, start=start, every=every, busy_hour=busy)
    return backtest(model, test, start=warmup, every=every, busy_hour=busy)


def busy_hours(panel: Panel, kpi: str) -> np.ndarray:
    """Each cell's hour of day (UTC) with the highest mean ``kpi``, -1 for a cell never seen."""
    X = np.asarray(panel.kpi(kpi), dtype=np.float64)
    hour = np.asarray(panel.times.hour)
    onehot = (hour[:, None] == np.arange(HOURS)[None, :]).astype(np.float64)
    seen = np.isfinite(X)
    sums = np.where(seen, X, 0.0) @ onehot
    counts = seen.astype(np.float64) @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, -np.inf)
    best = np.argmax(mean, axis=1)
    return np.where(seen.any(axis=1), best, -1)


def _continues(train: Panel, test: Panel) -> bool:
    if len(train.times) < 2 or len(test.times) < 1:
        return False
    return bool(test.times[0] == train.times[-1] + train.step) and (
        len(test.times) < 2 or test.step == train.step
    )


def _concat(head: Panel, tail: Panel, kpi: str) -> Panel:
    """One KPI of ``head`` followed by ``tail`` (same cells, consecutive ROPs)."""
    times = head.times.append(tail.times)
    values = np.concatenate([head.kpi(kpi), tail.kpi(kpi)], axis=1)
    return Panel(tail.cells, pd.DatetimeIndex(times), {kpi: values})


def _num(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
