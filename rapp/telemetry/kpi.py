"""Derived KPIs: long PM counters to one wide row per (cell, period end).

PRB utilisation follows TS 28.552: ``RRU.PrbTotDl`` is already a percentage; otherwise it is
``100 * RRU.PrbUsedDl / RRU.PrbAvailDl``. Both are clipped to [0, 100] because some nodes report
used > available for a period that straddles a reconfiguration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL, PmBatch

INDEX = ("cell", "period_end")
SUSPECT = "suspect"

# (KPI, direct percentage counter, used counter, available counter)
_PRB_KPIS: tuple[tuple[str, str, str, str], ...] = (
    (PRB_UTIL_DL, "RRU.PrbTotDl", "RRU.PrbUsedDl", "RRU.PrbAvailDl"),
    (PRB_UTIL_UL, "RRU.PrbTotUl", "RRU.PrbUsedUl", "RRU.PrbAvailUl"),
)


def derive_kpis(batch: PmBatch) -> pd.DataFrame:
    """Wide KPI frame indexed by (cell, period_end).

    Columns: ``prb_util_dl``, ``prb_util_ul``, then every counter as sent, then ``suspect``.
    A suspect (cell, period) has NaN in every numeric column: the node itself said not to trust
    it, and a NaN is skipped by the state and models where a wrong number would not be.
    """
    frame = batch.frame
    if frame.empty:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([], tz="UTC")], names=list(INDEX)
        )
        out = pd.DataFrame({k: pd.Series([], dtype="float64") for k, *_ in _PRB_KPIS})
        out.index = index
        out[SUSPECT] = pd.Series([], dtype=bool, index=index)
        return out

    keys = [*INDEX, "counter"]
    # a counter sent twice for one period (redelivery, overlapping measInfos): the last one wins
    wide = frame.groupby(keys, sort=False)["value"].last().unstack("counter")
    wide.columns.name = None
    wide = wide.sort_index(axis=1)
    suspect = frame.groupby(list(INDEX), sort=False)["suspect"].any().reindex(wide.index)

    kpis = {name: _prb_util(wide, tot, used, avail) for name, tot, used, avail in _PRB_KPIS}
    out = pd.concat([pd.DataFrame(kpis, index=wide.index), wide], axis=1)
    mask = suspect.to_numpy(dtype=bool)
    if mask.any():
        out.loc[mask, :] = np.nan
    out[SUSPECT] = mask
    return out.sort_index()


def _prb_util(wide: pd.DataFrame, tot: str, used: str, avail: str) -> pd.Series:
    nan = pd.Series(np.nan, index=wide.index, dtype="float64")
    direct = wide.get(tot, nan)
    if used in wide and avail in wide:
        denom = wide[avail].where(wide[avail] > 0)
        ratio = 100.0 * wide[used] / denom
    else:
        ratio = nan
    return direct.fillna(ratio).clip(0.0, 100.0).astype("float64")
