"""Additive Holt-Winters with daily seasonality, run over every cell at once.

The classic exponential-smoothing baseline: a level, a trend and one seasonal term per ROP of the
day, updated ROP by ROP. The recursion walks time (it has to) but each step is a few numpy
operations over all cells, and during the grid search over every candidate (alpha, beta, gamma)
as well. A missing ROP updates nothing: the state coasts on its own forecast.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.utils import check_random_state

from rapp.ml import features
from rapp.ml.naive import ResidualBandForecaster
from rapp.ml.panel import Panel

INIT_SEASONS = 3


class HoltWintersForecaster(ResidualBandForecaster):
    """Holt-Winters forecasts per cell with one (alpha, beta, gamma) shared by all cells.

    ``fit`` picks the grid point with the lowest one-step-ahead error (relative to each cell's
    level) over at most ``grid_cells`` cells, then learns the quantile band from its own
    backtest errors. Every forecast smooths only the last ``history_days`` days: older ROPs
    barely weigh in and skipping them keeps 100k cells affordable.
    """

    def __init__(
        self,
        kpi: str = "prb_util_dl",
        horizon: int = 8,
        quantiles: Sequence[float] = (0.5, 0.9),
        *,
        alphas: Sequence[float] = (0.05, 0.2, 0.5),
        betas: Sequence[float] = (0.0, 0.01),
        gammas: Sequence[float] = (0.05, 0.2, 0.4),
        history_days: int = 14,
        grid_cells: int = 300,
        band_origins: int = 672,
        max_cells: int = 1_000,
        random_state: int | None = 0,
    ) -> None:
        self.kpi = kpi
        self.horizon = horizon
        self.quantiles = quantiles
        self.alphas = alphas
        self.betas = betas
        self.gammas = gammas
        self.history_days = history_days
        self.grid_cells = grid_cells
        self.band_origins = band_origins
        self.max_cells = max_cells
        self.random_state = random_state

    def fit(self, panel: Panel, y: None = None) -> HoltWintersForecaster:
        self._check_params()
        grid = np.array(
            [(a, b, g) for a in self.alphas for b in self.betas for g in self.gammas], dtype=float
        )
        if grid.size == 0 or ((grid < 0) | (grid > 1)).any():
            raise ValueError("alphas, betas and gammas must be non-empty and within [0, 1]")
        X = self._history(panel)
        day, _ = features.seasons(panel.step)
        if self.horizon > day:
            raise ValueError(f"horizon {self.horizon} is longer than a day ({day} ROPs)")
        self.season_length_ = day
        self.context_ = max(1, self.history_days) * day
        if X.shape[1] < day + self.horizon + 1:
            raise ValueError(
                f"need at least {day + self.horizon + 1} ROPs of {self.kpi} to fit "
                f"(a day to initialise the seasons), got {X.shape[1]}"
            )
        tail = X[:, -self.context_ :]
        if tail.shape[0] > self.grid_cells:
            rng = check_random_state(self.random_state)
            tail = tail[np.sort(rng.choice(tail.shape[0], self.grid_cells, replace=False))]
        scores = _smooth(tail, grid, day, self.horizon, record=np.array([], dtype=int))[1]
        self.alpha_, self.beta_, self.gamma_ = (float(v) for v in grid[int(np.argmin(scores))])
        self.grid_scores_ = scores
        self._fit_band(X, panel.step)
        return self

    def context_rops(self) -> int:
        return self.context_

    def _points(self, X: np.ndarray, origins: np.ndarray) -> np.ndarray:
        lo = max(0, int(origins.min()) + 1 - self.context_)
        window = X[:, lo : int(origins.max()) + 1]
        params = np.array([[self.alpha_, self.beta_, self.gamma_]])
        return _smooth(window, params, self.season_length_, self.horizon, record=origins - lo)[0]


def _smooth(
    X: np.ndarray, grid: np.ndarray, season: int, horizon: int, record: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Run Holt-Winters over (cells, T) ``X`` for every row of ``grid`` (alpha, beta, gamma).

    Returns the forecasts of the first grid row issued at the ``record`` positions,
    (len(record), cells, horizon), and each grid row's mean one-step error relative to the
    cells' levels, scored after the initialisation seasons.
    """
    n, T = X.shape
    alpha, beta, gamma = (grid[:, i, None] for i in range(3))  # (G, 1) against (G, cells)
    level, seasonal, scale = _initial_state(X, season)
    level = np.broadcast_to(level, (len(grid), n)).copy()
    seasonal = np.broadcast_to(seasonal[:, None, :], (season, len(grid), n)).copy()
    trend = np.zeros_like(level)
    # Score after the days the initial state was read from, while a day is left to score.
    score_from = INIT_SEASONS * season if (INIT_SEASONS + 1) * season <= T else 0
    error = np.zeros_like(level)
    counted = np.zeros(n)
    steps = np.arange(1, horizon + 1)
    points = np.full((len(record), n, horizon), np.nan)
    slot = {int(t): i for i, t in enumerate(record)}
    for t in range(T):
        phase = t % season
        s_t = seasonal[phase]
        y = X[:, t]
        seen = np.isfinite(y)
        coast = level + trend
        if t >= score_from:
            error += np.where(seen, np.abs(y - coast - s_t), 0.0)
            counted += seen
        new_level = np.where(seen, alpha * (y - s_t) + (1 - alpha) * coast, coast)
        trend = np.where(seen, beta * (new_level - level) + (1 - beta) * trend, trend)
        seasonal[phase] = np.where(seen, gamma * (y - new_level) + (1 - gamma) * s_t, s_t)
        level = new_level
        if t in slot:
            ahead = seasonal[(t + steps) % season, 0, :].T  # (cells, horizon)
            points[slot[t]] = level[0, :, None] + steps[None, :] * trend[0, :, None] + ahead
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = error / (np.maximum(counted, 1) * scale)
    scores = np.nanmean(np.where(counted > 0, relative, np.nan), axis=1)
    return points, np.nan_to_num(scores, nan=np.inf)


def _initial_state(X: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level (cells,), seasonal terms (season, cells) and scale (cells,) from the first days."""
    n, T = X.shape
    k = max(1, min(INIT_SEASONS, T // season))
    head = np.full((n, k * season), np.nan)
    head[:, : min(T, k * season)] = X[:, : k * season]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells or phases never observed
        profile = np.nanmean(head.reshape(n, k, season), axis=1)
        level = np.nanmean(profile, axis=1)
        overall = np.nanmean(X, axis=1)
    level = np.where(np.isfinite(level), level, np.nan_to_num(overall, nan=0.0))
    seasonal = np.nan_to_num(profile - level[:, None], nan=0.0).T
    scale = np.where(np.isfinite(overall) & (overall > 0), overall, 1.0)
    return level, seasonal, scale
