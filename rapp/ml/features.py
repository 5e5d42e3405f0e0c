"""Features of the global forecaster, built for many (cell, origin, step) samples at once.

A sample is a triple: a cell, an origin (the position of the last ROP the forecast may see) and
a horizon step ``h >= 1`` (the target is ``origin + h``). Every feature is a gather from the
(cells, T) history at an offset of the origin or of the target, so a million samples take a
few dozen numpy fancy-index operations, and training and inference share one function. At
inference every sample has the same origin, so the costly parts read slices of every cell's
history instead (the tests hold both paths to the same numbers).

Levels are divided by the cell's *scale* (its mean over the day up to the origin), so one model
serves a rural cell at 3 % PRB and a stadium at 80 %: the model learns shapes, the scale brings
the level back.

One past week holds one noisy draw of each time of week, so the seasonal features are means:
over the last ``PROFILE_WEEKS`` weeks at the target's time of week, and over the past days of the
target's kind (workday or weekend) at its time of day, each over ``SMOOTH_ROPS`` neighbours on
either side. ``expected`` (that day-kind profile times today's level against it) is what the
model corrects rather than predicts from scratch.
"""

from __future__ import annotations

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
    "day_kind_profile",
    "week_profile",
    "level_vs_day_kind",
    "level_vs_weeks",
    "expected",
    "hour_sin",
    "hour_cos",
    "day_of_week",
    "weekend",
)
"""Column order of ``design``'s matrix. ``day_ago``/``week_ago`` and the profiles are taken at
the *target* time; ``level_vs_*`` compare the last ``LEVEL_ROPS`` with the same ROPs on past
days of the origin's kind or in past weeks; ``expected`` is the day-kind profile times
``level_vs_day_kind``."""

PROFILE_WEEKS = 2
"""Weeks of history the profiles average: the context is two weeks and a ROP."""
SMOOTH_ROPS = 2
"""Neighbours on either side of a seasonal lag that its mean takes in: the daily shape barely
changes over an hour, the per-ROP noise does, so five ROPs average it down more than they bend
the shape (measured on the bench's networks: 1 did worse, 3 no better)."""
LEVEL_ROPS = 8
"""ROPs behind today's level (two hours at 15 minutes); measured: 4 did as well, 16 and 24
worse (a longer window more often spans midnight, into another day's level)."""

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
    """How many trailing ROPs a forecast reads: the weeks its profiles average, and the origin."""
    return PROFILE_WEEKS * seasons(step)[1] + 1


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
    return _window_means(X, cells, origins, width, np.zeros(1, dtype=np.int64))[:, 0]


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
    """The (samples, len(FEATURES)) feature matrix; NaN where history is missing.

    ``X`` is (cells, T) with period ends ``times``; ``cells``, ``origins`` and ``steps`` are
    equal-length integer arrays naming each sample; ``scale`` is each sample's cell level.
    """
    if not (len(cells) == len(origins) == len(steps) == len(scale)):
        raise ValueError("cells, origins, steps and scale must have one entry per sample")
    step = times[1] - times[0]
    day, week = seasons(step)
    per_hour = max(1, int(pd.Timedelta(hours=1) / step))
    targets = origins + steps
    # float64, not float32: the trees read float64 and would convert a million rows twice.
    out = np.empty((len(cells), len(FEATURES)))
    inv = 1.0 / scale

    def at(idx: np.ndarray) -> np.ndarray:
        return gather(X, cells, idx, origins) * inv

    out[:, 0] = steps
    for k in range(4):
        out[:, 1 + k] = at(origins - k)
    out[:, 5] = trailing_mean(X, cells, origins, per_hour) * inv
    out[:, 6] = at(targets - day)
    out[:, 7] = at(targets - week)

    origin_ns = times.as_unit("ns").asi8[origins]
    target_ns = origin_ns + steps * step.value
    days_back = np.arange(1, PROFILE_WEEKS * 7 + 1)
    weeks_back = week * np.arange(1, PROFILE_WEEKS + 1)
    day_lags = day * days_back
    # Past days of the target's kind: a Saturday is forecast from weekend days, a Monday
    # from workdays, whatever their distance (the week profile brings the day itself).
    same_kind = _same_kind(days_back)
    same_day = np.broadcast_to(np.isin(day_lags, weeks_back), same_kind.shape)
    dow = _day_of_week(target_ns)
    keep = np.stack([same_kind, same_day])
    out[:, 8:10] = _profiles(X, cells, origins, steps, day_lags, dow, keep) * inv[:, None]

    # Today's level against the same hours of past days of the origin's kind, and of past
    # weeks: it moves the whole day (a busier day, a trend) and is read off the last ROPs.
    if _one_origin(origins):
        # Inference: levels are per cell, so they are worked out once per cell, not per step.
        rows, at_row = np.unique(cells, return_inverse=True)
        lags = (day_lags, weeks_back, same_kind)
        out[:, 10:12] = _levels(X, rows, origins[: len(rows)], *lags, origin_ns[:1])[at_row]
    else:
        out[:, 10:12] = _levels(X, cells, origins, day_lags, weeks_back, same_kind, origin_ns)
    out[:, 12] = out[:, 8] * out[:, 10]

    phase = 2 * np.pi * (target_ns % _DAY_NS) / _DAY_NS
    out[:, 13] = np.sin(phase)
    out[:, 14] = np.cos(phase)
    out[:, 15] = dow
    out[:, 16] = dow >= 5
    return out


def expected(design: np.ndarray) -> np.ndarray:
    """Each sample's best simple guess of its scaled target, which the model corrects.

    ``expected`` where it exists, else the nearest coarser guess the design holds (the
    profiles, then the last value); never below 0.01 of the cell's scale, as the model's
    target is the actual over this.
    """
    guess = design[:, FEATURES.index("expected")].astype(np.float64)
    for fallback in ("day_kind_profile", "week_profile", "lag_0", "mean_1h"):
        guess = np.where(np.isfinite(guess), guess, design[:, FEATURES.index(fallback)])
    return np.maximum(np.nan_to_num(guess, nan=1.0), 0.01)


def _levels(
    X: np.ndarray,
    cells: np.ndarray,
    origins: np.ndarray,
    day_lags: np.ndarray,
    weeks_back: np.ndarray,
    same_kind: np.ndarray,
    origin_ns: np.ndarray,
) -> np.ndarray:
    """(samples, 2): the mean of the last ``LEVEL_ROPS`` over the same ROPs' mean on past days
    of the origin's kind, and in past weeks; NaN where either is unknown or 0."""
    windows = _window_means(X, cells, origins, LEVEL_ROPS, np.concatenate([[0], day_lags]))
    now, past = windows[:, :1], windows[:, 1:]
    seen = np.isfinite(past)
    values = np.where(seen, past, 0.0)
    ratios = np.empty((len(cells), 2))
    for j, use in enumerate(
        (
            same_kind[_day_of_week(origin_ns)],  # a row per sample (one at inference)
            np.isin(day_lags, weeks_back)[None, :],
        )
    ):
        use = use & seen
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[:, j] = now[:, 0] * use.sum(axis=1) / (values * use).sum(axis=1)
    # A silent past (level 0) makes no ratio: missing, which the trees handle, not infinite.
    return np.where(np.isfinite(ratios), ratios, np.nan)


def _one_origin(origins: np.ndarray) -> bool:
    """Inference (every sample at one origin), where slices of every row beat gathers."""
    return bool(len(origins)) and bool((origins == origins[0]).all())


def _day_of_week(ns: np.ndarray) -> np.ndarray:
    return (ns // _DAY_NS + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


def _same_kind(days_back: np.ndarray) -> np.ndarray:
    """(7, len(days_back)): is the day ``days_back`` before a day of the week of its kind?

    A table by day of week, as a million samples share seven days.
    """
    dow = np.arange(7)
    return ((dow[:, None] - days_back[None, :]) % 7 >= 5) == (dow >= 5)[:, None]


def _profiles(
    X: np.ndarray,
    cells: np.ndarray,
    origins: np.ndarray,
    steps: np.ndarray,
    lags: np.ndarray,
    dow: np.ndarray,
    keep: np.ndarray,
) -> np.ndarray:
    """(samples, len(keep)): per profile, the mean of the observed ``X[cell, target - lag +
    d]`` over the ``lags`` it keeps and ``|d| <= SMOOTH_ROPS``; NaN if none is observed.

    ``keep`` (profiles, 7, lags) says which lags each profile counts for a target on each day
    of the week ``dow``: the profiles share their lags, so each lag is read once for all.
    """
    width = 2 * SMOOTH_ROPS + 1
    if _one_origin(origins):
        # Inference: one origin, so each lag's ROPs are one slice of every cell's history,
        # summed once per (cell, step) rather than gathered per sample.
        o, lo, hi = int(origins[0]), int(steps.min()), int(steps.max())
        span = hi - lo + 1
        step_dow = np.zeros(span, dtype=np.int64)
        step_dow[steps - lo] = dow
        total = np.zeros((len(keep), X.shape[0], span))
        count = np.zeros_like(total)
        for j, lag in enumerate(lags):
            first = o + lo - lag - SMOOTH_ROPS  # the column of the first ROP read
            stop = min(o + hi - lag + SMOOTH_ROPS + 1, o + 1)
            if stop <= max(first, 0):
                continue
            block = X[:, max(first, 0) : stop]
            seen = np.isfinite(block)
            # Moving sums of ``width`` ROPs by cumulative sums, held flat where the block was
            # cut at the panel's start or at the origin.
            sums = np.zeros((X.shape[0], span + width))
            ns = np.zeros_like(sums)
            at, end = 1 + max(0, -first), 1 + max(0, -first) + block.shape[1]
            np.cumsum(np.where(seen, block, 0.0), axis=1, out=sums[:, at:end])
            np.cumsum(seen, axis=1, out=ns[:, at:end])
            sums[:, end:] = sums[:, end - 1 : end]
            ns[:, end:] = ns[:, end - 1 : end]
            moving = sums[:, width:] - sums[:, :span]
            moving_n = ns[:, width:] - ns[:, :span]
            for p, use in enumerate(keep[:, step_dow, j].astype(np.float64)):
                if use.any():
                    total[p] += moving * use
                    count[p] += moving_n * use
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        return mean[:, cells, steps - lo].T
    targets = origins + steps
    total = np.zeros((len(cells), len(keep)))
    count = np.zeros_like(total)
    use = keep[:, dow].transpose(1, 0, 2)  # (samples, profiles, lags)
    for j, lag in enumerate(lags):
        for d in range(-SMOOTH_ROPS, SMOOTH_ROPS + 1):
            v = gather(X, cells, targets - lag + d, origins)
            ok = np.isfinite(v)[:, None] & use[:, :, j]
            total += np.where(ok, v[:, None], 0.0)
            count += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _window_means(
    X: np.ndarray, cells: np.ndarray, origins: np.ndarray, width: int, shifts: np.ndarray
) -> np.ndarray:
    """(samples, len(shifts)): mean of the observed values of the ``width`` ROPs ending at
    ``origin - shift``; NaN where none is observed or the window starts before the panel
    (a part-window would compare a level with the wrong hours)."""
    if _one_origin(origins):
        # Inference: one origin for every cell, so every window is one slice of every row
        # (of only the samples' rows when they are few): slices beat cumulative sums.
        o = int(origins[0])
        rows = X[cells] if len(cells) < X.shape[0] else X
        means = np.full((rows.shape[0], len(shifts)), np.nan)
        for j, shift in enumerate(shifts):
            end = o - int(shift)
            if end < 0 or (shift and end < width - 1):
                continue
            block = rows[:, max(0, end - width + 1) : end + 1]
            seen = np.isfinite(block)
            n = seen.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                means[:, j] = np.where(n > 0, np.where(seen, block, 0.0).sum(axis=1) / n, np.nan)
        return means if len(cells) < X.shape[0] else means[cells]
    out = np.full((len(cells), len(shifts)), np.nan)
    observed = np.isfinite(X)
    sums = np.zeros((X.shape[0], X.shape[1] + 1))
    counts = np.zeros_like(sums)
    np.cumsum(np.where(observed, X, 0.0), axis=1, out=sums[:, 1:])
    np.cumsum(observed, axis=1, out=counts[:, 1:])
    for j, shift in enumerate(shifts):
        end = origins - int(shift)
        lo = np.clip(end - width + 1, 0, None)
        valid = end >= (width - 1 if shift else 0)
        e = np.clip(end, -1, None) + 1
        total = sums[cells, e] - sums[cells, lo]
        n = counts[cells, e] - counts[cells, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(valid & (n > 0), total / n, np.nan)
    return out
