"""Each cell's normal week: the expected log KPI per slot of the week and its robust spread.

These are the pieces ``Detector`` builds its robust z-scores from, as plain functions over
(kpis, cells, T) arrays of log KPIs (NaN: not observed, or not to be learned from) and each
ROP's fractional position in the week (``week_position``). The fitted arrays stay on the
detector, so a saved model holds no type from this module.

- the profile is a median per week slot, so a burst barely moves it; a slot with too few
  samples falls back to its hour on days of the same type, then on any day (``fit_profile``);
- the spread is the MAD of held-out residuals per hour of the day (``held_out_residuals``,
  ``fit_scale``), since in-sample residuals of a median of a few samples flatter it;
- a holiday looks like the rest day: a calendar day that most cells fit far better with
  another day's profile is judged against that one (``choose_day_profiles``);
- what every cell shares at once (trend, weather) is removed (``remove_common_mode``).

Medians are taken by sorting (``_nanmedian_last``), which is an order of magnitude faster than
``np.nanmedian`` over the many short rows a profile has.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

MINUTES_PER_DAY = 1440
"""A profile slot must divide this, so every day has the same slots."""

_MAD_TO_SIGMA = 1.4826


def n_slots(slot_minutes: int) -> tuple[int, int]:
    """Slots per week and per day: a profile has the former, a spread the latter."""
    per_day = MINUTES_PER_DAY // slot_minutes
    return 7 * per_day, per_day


def week_position(times: pd.DatetimeIndex, step_ns: int, slot_minutes: int) -> np.ndarray:
    """Each ROP's middle as a fractional week slot (0 = Monday 00:00 UTC).

    The middle, not the period end, so a ROP ending on the hour counts for the hour it covered.
    """
    middle = times - pd.Timedelta(step_ns // 2, unit="ns")
    minutes = (
        middle.day_of_week.to_numpy() * MINUTES_PER_DAY
        + middle.hour.to_numpy() * 60
        + middle.minute.to_numpy()
        + middle.second.to_numpy() / 60.0
    )
    return minutes / slot_minutes


def fit_profile(
    logs: np.ndarray,
    week: np.ndarray,
    *,
    slot_minutes: int,
    weekend_days: tuple[int, ...],
    min_samples: int,
) -> np.ndarray:
    """(kpis, cells, week slots) medians: what each cell normally shows at each time of week.

    A thin week slot takes the median of its hour on days of its type (workday or weekend),
    then of its hour on any day: an office cell's Sunday must not be guessed from its Mondays
    while Sundays are known.
    """
    n_week, n_day = n_slots(slot_minutes)
    slot = np.floor(week).astype(np.int64) % n_week
    weekly, count = _grouped_median(logs, slot, n_week)
    hour = np.arange(n_week) % n_day
    weekend = np.isin(np.arange(n_week) // n_day, weekend_days).astype(np.int64)
    by_type, type_count = _grouped_median(logs, (weekend * n_day + hour)[slot], 2 * n_day)
    daily, _ = _grouped_median(logs, slot % n_day, n_day)
    of_type = weekend * n_day + hour
    fallback = np.where(
        type_count[..., of_type] >= min_samples, by_type[..., of_type], daily[..., hour]
    )
    return np.where(count >= min_samples, weekly, fallback)


def workday_profile(
    profile: np.ndarray, *, slot_minutes: int, weekend_days: tuple[int, ...]
) -> np.ndarray:
    """(kpis, cells, day slots) median over the workdays of a weekly profile.

    What a day is judged against when its own weekday was odd in the training history.
    """
    _, n_day = n_slots(slot_minutes)
    workdays = [d for d in range(7) if d not in weekend_days]
    by_day = profile.reshape(*profile.shape[:2], 7, n_day)
    return _nanmedian_last(np.moveaxis(by_day[:, :, workdays], 2, -1))


def held_out_residuals(
    logs: np.ndarray,
    week: np.ndarray,
    *,
    slot_minutes: int,
    weekend_days: tuple[int, ...],
    min_samples: int,
) -> np.ndarray:
    """Residuals of each ROP against a profile fitted without it (two folds, alternate ROPs).

    In-sample residuals of a median over a few samples are too small (about 25% with one
    week of history), which would make every later ROP look that much more significant.
    """
    odd = np.arange(logs.shape[-1]) % 2 == 1
    # Each fold sees about half the samples, so it needs about half as many per slot.
    need = max(1, -(-min_samples // 2))
    resid = np.empty_like(logs)
    for held_out in (odd, ~odd):  # two folds, each over every cell at once
        profile = fit_profile(
            np.where(held_out, np.nan, logs),
            week,
            slot_minutes=slot_minutes,
            weekend_days=weekend_days,
            min_samples=need,
        )
        resid[..., held_out] = (logs - expected_log(profile, week))[..., held_out]
    return resid


def fit_scale(
    resid: np.ndarray, week: np.ndarray, *, slot_minutes: int, min_scale: float
) -> np.ndarray:
    """(kpis, cells, day slots) robust spread, floored by the cell's overall spread.

    The divisor of a robust z: a quiet hour may vary less than a busy one.
    """
    _, n_day = n_slots(slot_minutes)
    slot = np.floor(week).astype(np.int64) % n_day
    spread, _ = _grouped_median(np.abs(resid), slot, n_day)
    overall = _nanmedian_last(np.abs(resid))[..., None]
    # A slot whose few samples happen to agree must not claim more certainty than the cell.
    spread = np.fmax(_MAD_TO_SIGMA * spread, 0.5 * _MAD_TO_SIGMA * overall)
    return np.fmax(spread, min_scale)


def expected_log(
    profile: np.ndarray, week: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """(kpis, cells, T) profile linearly interpolated between slot centres.

    Interpolated (around the week's end, or the day's for a daily profile) so a morning ramp
    is not a staircase. ``rows`` picks the profile's cells (None: all, in order).
    """
    slots = profile.shape[-1]
    centred = week - 0.5
    lo = np.floor(centred).astype(np.int64)
    frac = centred - lo
    return (1 - frac) * _at(profile, rows, lo % slots) + frac * _at(profile, rows, (lo + 1) % slots)


def scale_at(
    scale: np.ndarray, week: np.ndarray, *, slot_minutes: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """(kpis, cells, T) spread for each ROP, from a (kpis, cells, day slots) ``fit_scale``."""
    _, n_day = n_slots(slot_minutes)
    return _at(scale, rows, np.floor(week).astype(np.int64) % n_day)


def as_rest_day(week: np.ndarray, rest_day: int, slot_minutes: int) -> np.ndarray:
    """The same times of day moved to ``rest_day``, to read the rest day's profile there."""
    _, n_day = n_slots(slot_minutes)
    return rest_day * n_day + np.mod(week, n_day)


def remove_common_mode(resid: np.ndarray, min_network_cells: int) -> np.ndarray:
    """Subtract the median residual over cells per ROP and KPI.

    What every cell shares (trend, weather, a holiday the rest day does not fully explain) is
    not a cell's anomaly. Too few cells and the median would be one cell's own deviation.
    """
    if resid.shape[1] < min_network_cells:
        return resid
    common = _nanmedian_last(np.moveaxis(resid, 1, -1))[:, None, :]
    enough = (~np.isnan(resid)).sum(axis=1, keepdims=True) >= min_network_cells
    return resid - np.where(enough, common, 0.0)


def cell_groups(cells: Sequence[str] | pd.Index, rdn: str | None) -> np.ndarray:
    """Group code per cell: cells whose DNs agree up to and including the ``rdn`` (e.g.
    ``ManagedElement``: the cells of one gNB) share a code; -1 for a DN without it."""
    if rdn is None:
        return np.full(len(cells), -1, dtype=np.int64)
    prefix = pd.Series(pd.Index(cells).astype(str)).str.extract(
        rf"^(.*?(?:^|,){re.escape(rdn)}=[^,]*)", expand=False
    )
    codes, _ = pd.factorize(prefix)  # NaN (no such RDN) -> -1
    return codes.astype(np.int64)


def remove_shared_surge(
    z: np.ndarray, groups: np.ndarray, load: np.ndarray, *, min_cells: int, threshold: float
) -> np.ndarray:
    """Subtract, per group of cells and ROP, the group's median robust z (every KPI) wherever
    the group's load is up by more than ``threshold``: a surge every cell of a site shares is
    an event (a concert, a match), not a cell's anomaly. Below it nothing is touched (noise
    must not be spread from one cell to its neighbours), and a shared *drop* is left alone: a
    whole gNB going quiet is an outage and must stay visible. ``load`` marks the KPIs (first
    axis of ``z``) that rise with demand; groups of fewer than ``min_cells`` observed cells are
    not corrected.
    """
    resid = z
    member = np.flatnonzero(groups >= 0)
    if member.size == 0 or not load.any():
        return resid
    member = member[np.argsort(groups[member], kind="stable")]
    ordered = groups[member]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    sizes = np.diff(np.r_[starts, len(ordered)])
    group_of = np.repeat(np.arange(len(starts)), sizes)  # per member, in ``member`` order
    table = np.full((len(starts), int(sizes.max())), -1, dtype=np.int64)
    table[group_of, np.arange(len(ordered)) - np.repeat(starts, sizes)] = member
    gathered = resid[:, np.clip(table, 0, None), :]  # (kpis, groups, size, T)
    gathered[:, table < 0, :] = np.nan
    stacked = np.moveaxis(gathered, 2, -1)  # (kpis, groups, T, size)
    median = _nanmedian_last(stacked)
    enough = (~np.isnan(stacked)).sum(axis=-1) >= min_cells
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        surging = np.nanmedian(median[load], axis=0) > threshold  # (groups, T)
    shift = np.where(enough & surging[None], median, 0.0)
    out = resid.copy()
    out[:, member, :] -= np.nan_to_num(shift)[:, group_of, :]
    return out


def choose_day_profiles(
    logs: np.ndarray,
    own: np.ndarray,
    others: dict[str, np.ndarray],
    spread: np.ndarray,
    week: np.ndarray,
    times: pd.DatetimeIndex,
    *,
    step_ns: int,
    slot_minutes: int,
    rest_day: int,
    weekend_days: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Expected log KPIs per calendar day, and which ROPs took another day's profile.

    Per day, the network's own weekly profile or, if most cells fit it badly and another
    clearly better, ``others["rest"]`` (a holiday) or ``others["workday"]`` (the training
    history's same weekday was itself odd). Judged over every cell at once, so one cell's
    anomaly cannot change its day's profile.
    """
    _, n_day = n_slots(slot_minutes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are gaps

        def misfit(expected: np.ndarray) -> np.ndarray:
            return np.nanmean(np.minimum(np.abs(logs - expected) / spread, 10.0), axis=0)

        own_misfit = misfit(own)
        other_misfit = {name: misfit(e) for name, e in others.items()}
        expected, odd = own, np.zeros(len(times), dtype=bool)
        day = np.floor(week / n_day).astype(np.int64) % 7
        codes, _ = pd.factorize((times - pd.Timedelta(step_ns // 2, "ns")).normalize())
        for code in np.unique(codes):  # one pass per calendar day, never per cell
            cols = codes == code
            weekday = day[cols][0]
            usable = {
                "rest": weekday != rest_day,
                "workday": weekday not in weekend_days,
            }
            fit_own = _nanmedian_last(own_misfit[:, cols].reshape(-1))
            fits = {
                n: _nanmedian_last(m[:, cols].reshape(-1))
                for n, m in other_misfit.items()
                if usable[n]
            }
            # A normal day's mean |z| is about 0.8; twice that is a day the profile missed.
            if not fits or not fit_own > 1.6:
                continue
            best = min(fits, key=fits.__getitem__)
            if fits[best] < 0.6 * fit_own:
                if expected is own:
                    expected = own.copy()
                expected[..., cols] = others[best][..., cols]
                odd[cols] = True
    return expected, odd


def _grouped_median(
    values: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """nanmedian and non-NaN count of ``values[..., t]`` per ``group[t]``, all rows at once.

    Columns are gathered into a (..., groups, widest group) block padded with NaN, so one
    sort covers every cell and KPI.
    """
    order = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=n_groups)
    rank = np.arange(len(group)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    index = np.full((n_groups, max(int(sizes.max(initial=0)), 1)), -1)
    index[group[order], rank] = order
    block = values[..., np.clip(index, 0, None)]
    block[..., index < 0] = np.nan
    return _nanmedian_last(block), (~np.isnan(block)).sum(axis=-1)


def _nanmedian_last(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN if none): a sort, which NaN ends, then the
    middle of what is left. ``np.nanmedian`` is an order of magnitude slower on many rows."""
    ordered = np.sort(values, axis=-1)
    count = (~np.isnan(ordered)).sum(axis=-1, keepdims=True)
    low = np.take_along_axis(ordered, np.clip((count - 1) // 2, 0, None), axis=-1)
    high = np.take_along_axis(ordered, np.clip(count // 2, 0, None), axis=-1)
    high = np.where(count % 2 == 1, low, high)  # odd count: one middle value
    return np.where(count > 0, (low + high) / 2, np.nan)[..., 0]


def _at(matrix: np.ndarray, rows: np.ndarray | None, columns: np.ndarray) -> np.ndarray:
    """``matrix[:, rows][..., columns]`` (kpis, cells, T) without copying every column."""
    if rows is None:
        return matrix[..., columns]
    return matrix[:, rows[:, None], columns[None, :]]
