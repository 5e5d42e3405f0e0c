"""Features of the global forecaster, built for many (cell, origin, step) samples at once.

A sample is a triple: a cell, an origin (the position of the last ROP the forecast may see) and
a horizon step ``h >= 1`` (the target is ``origin + h``). Every feature is a gather from the
(cells, T) history at an offset of the origin or of the target, so a million samples take a
handful of numpy fancy-index operations, and training and inference share one code path.

Levels are divided by the cell's *scale* (its mean over the day up to the origin), so one model
serves a rural cell at 3 % PRB and a stadium at 80 %: the model learns shapes, the scale brings
the level back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

FEATURES: tuple[str, ...] = (
    "step",
    "lag_0",
    "lag_1",
    "lag_2",
    "lag_3",
    "mean_1h",
    "day_ago",
    "week_ago",
    "daily_profile",
    "vs_yesterday",
    "vs_last_week",
    "hour_sin",
    "hour_cos",
    "day_of_week",
    "weekend",
)
"""Column order of ``design``'s matrix; ``day_ago``/``week_ago``/``daily_profile`` are taken
at the *target* time, ``vs_*`` compare the origin with the same time a day or a week before."""

PROFILE_DAYS = 7
_DAY_NS = pd.Timedelta(days=1).value


def seasons(step: pd.Timedelta) -> tuple[int, int]:
    """ROPs per day and per week at this ROP length; seasonal lags need whole numbers."""
    step = pd.Timedelta(step)
    if step <= pd.Timedelta(0):
        raise ValueError(f"ROP length must be positive, got {step}")
    per_day = pd.Timedelta(days=1) / step
    if per_day != int(per_day):
        raise ValueError(f"a day is not a whole number of {step} ROPs")
    return int(per_day), 7 * int(per_day)


def context_length(step: pd.Timedelta) -> int:
    """How many trailing ROPs a forecast reads: the week behind its scale and weekly lags."""
    return seasons(step)[1] + 1


def gather(X: np.ndarray, cells: np.ndarray, idx: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """``X[cells, idx]``, NaN where ``idx`` is before the panel or after the origin.

    The origin bound is what keeps the future out of the features in training.
    """
    if idx.ndim == 2:
        cells, origins = cells[:, None], origins[:, None]
    ok = (idx >= 0) & (idx <= origins)
    out = X[cells, np.clip(idx, 0, X.shape[1] - 1)]
    return np.where(ok, out, np.nan)


def trailing_mean(X: np.ndarray, cells: np.ndarray, origins: np.ndarray, width: int) -> np.ndarray:
    """Mean of the observed values of ``X[cell, origin - width + 1 : origin + 1]`` per sample."""
    if len(origins) and (origins == origins[0]).all():
        # Inference: one origin for every cell, so a plain slice beats cumulative sums.
        o = int(origins[0])
        cut = slice(max(0, o - width + 1), o + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are expected
            if len(cells) < X.shape[0]:  # a few samples: read only their rows
                return np.nanmean(X[cells, cut], axis=1)
            return np.nanmean(X[:, cut], axis=1)[cells]
    observed = np.isfinite(X)
    sums = np.zeros((X.shape[0], X.shape[1] + 1))
    counts = np.zeros_like(sums)
    np.cumsum(np.where(observed, X, 0.0), axis=1, out=sums[:, 1:])
    np.cumsum(observed, axis=1, out=counts[:, 1:])
    lo = np.clip(origins - width + 1, 0, None)
    total = sums[cells, origins + 1] - sums[cells, lo]
    n = counts[cells, origins + 1] - counts[cells, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def cell_scale(X: np.ndarray, cells: np.ndarray, origins: np.ndarray, day: int) -> np.ndarray:
    """Each sample's cell level (mean of its last day) as of its origin.

    A day, not a week: it is read for every cell every ROP, and a day already spans the
    daily cycle. The week's mean where the day has none; 1 where the week has none either,
    so ratios stay finite.
    """
    scale = trailing_mean(X, cells, origins, day)
    silent = ~np.isfinite(scale)
    if silent.any():
        # A cell silent for a day keeps its level of the week, rather than none at all.
        scale[silent] = trailing_mean(X, cells[silent], origins[silent], 7 * day)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def design(
    X: np.ndarray,
    times: pd.DatetimeIndex,
    cells: np.ndarray,
    origins: np.ndarray,
    steps: np.ndarray,
    scale: np.ndarray,
) -> np.ndarray:
    """The (samples, len(FEATURES)) float32 feature matrix; NaN where history is missing.

    ``X`` is (cells, T) with period ends ``times``; ``cells``, ``origins`` and ``steps`` are
    equal-length integer arrays naming each sample; ``scale`` is each sample's cell level.
    """
    if not (len(cells) == len(origins) == len(steps) == len(scale)):
        raise ValueError("cells, origins, steps and scale must have one entry per sample")
    step = times[1] - times[0]
    day, week = seasons(step)
    per_hour = max(1, int(pd.Timedelta(hours=1) / step))
    targets = origins + steps
    out = np.empty((len(cells), len(FEATURES)), dtype=np.float32)
    inv = 1.0 / scale

    def at(idx: np.ndarray) -> np.ndarray:
        return gather(X, cells, idx, origins) * inv

    out[:, 0] = steps
    for k in range(4):
        out[:, 1 + k] = at(origins - k)
    out[:, 5] = trailing_mean(X, cells, origins, per_hour) * inv
    out[:, 6] = at(targets - day)
    out[:, 7] = at(targets - week)
    back = targets[:, None] - day * np.arange(1, PROFILE_DAYS + 1)[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out[:, 8] = np.nanmean(gather(X, cells, back, origins), axis=1) * inv
    out[:, 9] = out[:, 1] - at(origins - day)
    out[:, 10] = out[:, 1] - at(origins - week)
    target_ns = times.as_unit("ns").asi8[origins] + steps * step.value
    phase = 2 * np.pi * (target_ns % _DAY_NS) / _DAY_NS
    out[:, 11] = np.sin(phase)
    out[:, 12] = np.cos(phase)
    dow = (target_ns // _DAY_NS + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    out[:, 13] = dow
    out[:, 14] = dow >= 5
    return out
