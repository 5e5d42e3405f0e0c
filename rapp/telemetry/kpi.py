"""Derived KPIs: long PM counters (TS 28.552 names) to one wide row per (cell, period end).

Map vendor names first (``rapp.telemetry.mapping``); this module reads 28.552 names only.

- ``prb_util_dl`` / ``prb_util_ul`` (%): ``RRU.PrbTotDl`` is already a percentage; otherwise
  ``100 * RRU.PrbUsedDl / RRU.PrbAvailDl``. Clipped to [0, 100] because some nodes report
  used > available for a period that straddles a reconfiguration.
- ``thp_dl`` / ``thp_ul`` (kbit/s): ``DRB.UEThpDl`` / ``DRB.UEThpUl``, the average UE
  throughput, which 28.552 already gives in kbit/s.
- ``active_ue_dl`` / ``active_ue_ul``: ``DRB.MeanActiveUeDl`` / ``DRB.MeanActiveUeUl``, the mean
  number of UEs with data buffered over the ROP.
- ``rrc_conn_mean`` / ``rrc_conn_max``: ``RRC.ConnMean`` / ``RRC.ConnMax``.
- ``energy_kwh``: ``PEE.Energy`` (see ``_energy_kwh``).

A KPI whose inputs are missing is a NaN column, never an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL, PmBatch

INDEX = ("cell", "period_end")
SUSPECT = "suspect"

THP_DL = "thp_dl"
"""KPI name: average DL UE throughput, kbit/s (TS 28.552 DRB.UEThpDl)."""
THP_UL = "thp_ul"
"""KPI name: average UL UE throughput, kbit/s (TS 28.552 DRB.UEThpUl)."""
ACTIVE_UE_DL = "active_ue_dl"
"""KPI name: mean active UEs in the DL (TS 28.552 DRB.MeanActiveUeDl)."""
ACTIVE_UE_UL = "active_ue_ul"
"""KPI name: mean active UEs in the UL (TS 28.552 DRB.MeanActiveUeUl)."""
RRC_CONN_MEAN = "rrc_conn_mean"
"""KPI name: mean RRC-connected UEs (TS 28.552 RRC.ConnMean)."""
RRC_CONN_MAX = "rrc_conn_max"
"""KPI name: peak RRC-connected UEs (TS 28.552 RRC.ConnMax)."""
ENERGY_KWH = "energy_kwh"
"""KPI name: energy consumed in the ROP, kWh (TS 28.552 PEE.Energy)."""

# (KPI, direct percentage counter, used counter, available counter)
_PRB_KPIS: tuple[tuple[str, str, str, str], ...] = (
    (PRB_UTIL_DL, "RRU.PrbTotDl", "RRU.PrbUsedDl", "RRU.PrbAvailDl"),
    (PRB_UTIL_UL, "RRU.PrbTotUl", "RRU.PrbUsedUl", "RRU.PrbAvailUl"),
)
# (KPI, counter) whose KPI is the counter in the unit 28.552 already uses
_DIRECT_KPIS: tuple[tuple[str, str], ...] = (
    (THP_DL, "DRB.UEThpDl"),
    (THP_UL, "DRB.UEThpUl"),
    (ACTIVE_UE_DL, "DRB.MeanActiveUeDl"),
    (ACTIVE_UE_UL, "DRB.MeanActiveUeUl"),
    (RRC_CONN_MEAN, "RRC.ConnMean"),
    (RRC_CONN_MAX, "RRC.ConnMax"),
)
KPIS: tuple[str, ...] = (
    *(k for k, *_ in _PRB_KPIS),
    *(k for k, _ in _DIRECT_KPIS),
    ENERGY_KWH,
)
"""Every derived KPI column, in the order ``derive_kpis`` puts them first."""


def derive_kpis(batch: PmBatch) -> pd.DataFrame:
    """Wide KPI frame indexed by (cell, period_end), sorted.

    Columns: ``KPIS`` (prb_util_dl, prb_util_ul, thp_dl, thp_ul, active_ue_dl, active_ue_ul,
    rrc_conn_mean, rrc_conn_max, energy_kwh), then every counter as sent (sorted by name), then
    ``suspect``. A counter sent twice for one period (redelivery, overlapping measInfos): the
    last non-NaN value wins. A suspect (cell, period) has NaN in every numeric column: the node
    itself said not to trust it, and a NaN is skipped by the state and models where a wrong
    number would not be.
    """
    frame = batch.frame
    if frame.empty:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=object), pd.DatetimeIndex([], tz="UTC")], names=list(INDEX)
        )
        out = pd.DataFrame({k: pd.Series([], dtype="float64") for k in KPIS})
        out.index = index
        out[SUSPECT] = pd.Series([], dtype=bool, index=index)
        return out

    wide, suspect = _pivot(frame)
    kpis = {name: _prb_util(wide, tot, used, avail) for name, tot, used, avail in _PRB_KPIS}
    kpis |= {name: _column(wide, counter) for name, counter in _DIRECT_KPIS}
    kpis[ENERGY_KWH] = _energy_kwh(wide)
    out = pd.concat([pd.DataFrame(kpis, index=wide.index), wide], axis=1)
    if suspect.any():
        out.loc[suspect, :] = np.nan
    out[SUSPECT] = suspect
    return out.sort_index()


def _pivot(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Long rows to a (cell, period_end) x counter matrix, with numpy on integer codes (a
    pandas groupby/unstack over 2M object rows takes seconds; this takes a fraction)."""
    cell_codes, cells = pd.factorize(frame["cell"], sort=False)
    end_codes, ends = pd.factorize(frame["period_end"], sort=False)
    counter_codes, counters = pd.factorize(frame["counter"], sort=True)
    key = cell_codes.astype(np.int64) * len(ends) + end_codes
    row_codes, row_keys = pd.factorize(key, sort=False)
    n_rows, n_cols = len(row_keys), len(counters)

    values = frame["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    matrix = np.full((n_rows, n_cols), np.nan)
    has = ~np.isnan(values)
    flat = row_codes[has].astype(np.int64) * n_cols + counter_codes[has]
    last = ~pd.Series(flat).duplicated(keep="last").to_numpy()  # last non-NaN value wins
    matrix.reshape(-1)[flat[last]] = values[has][last]

    suspect = np.bincount(
        row_codes, weights=frame["suspect"].to_numpy(dtype=bool), minlength=n_rows
    ).astype(bool)
    row_keys = np.asarray(row_keys, dtype=np.int64)
    index = pd.MultiIndex.from_arrays(
        [
            pd.Index(np.asarray(cells, dtype=object).take(row_keys // len(ends)), dtype=object),
            pd.DatetimeIndex(ends).take(row_keys % len(ends)),
        ],
        names=list(INDEX),
    )
    wide = pd.DataFrame(matrix, index=index, columns=pd.Index(list(counters), dtype=object))
    return wide, suspect


def _column(wide: pd.DataFrame, counter: str) -> pd.Series:
    if counter in wide:
        return wide[counter].astype("float64")
    return pd.Series(np.nan, index=wide.index, dtype="float64")


def _energy_kwh(wide: pd.DataFrame) -> pd.Series:
    """Energy consumed over the ROP in kWh: TS 28.552 clause 5.1.1.19 (Power, Energy and
    Environmental measurements), ``PEE.Energy``, which 28.552 already defines in kilowatt-hours
    (kWh), so no conversion here. A node that reports Wh or J under another name is converted
    by the counter map (``counters.yaml``, ``scale``), before this stage."""
    return _column(wide, "PEE.Energy")


def _prb_util(wide: pd.DataFrame, tot: str, used: str, avail: str) -> pd.Series:
    nan = pd.Series(np.nan, index=wide.index, dtype="float64")
    direct = wide.get(tot, nan)
    if used in wide and avail in wide:
        denom = wide[avail].where(wide[avail] > 0)
        ratio = 100.0 * wide[used] / denom
    else:
        ratio = nan
    return direct.fillna(ratio).clip(0.0, 100.0).astype("float64")
