"""Derived KPIs from long counters: both PRB formulas, NaN rules, clipping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL, PmBatch
from rapp.telemetry.kpi import derive_kpis

END = pd.Timestamp("2025-01-06T12:00Z")


def _batch(rows: list[tuple[str, str, float, bool]]) -> PmBatch:
    cell, counter, value, suspect = zip(*rows, strict=True)
    n = len(rows)
    return PmBatch(
        pd.DataFrame(
            {
                "cell": pd.Series(cell, dtype=object),
                "period_end": pd.Series([END] * n, dtype="datetime64[ns, UTC]"),
                "granularity_s": np.full(n, 900, dtype="int32"),
                "counter": pd.Series(counter, dtype=object),
                "value": np.asarray(value, dtype=float),
                "suspect": np.asarray(suspect, dtype=bool),
            }
        )
    )


def _kpi(frame: pd.DataFrame, cell: str, col: str = PRB_UTIL_DL) -> float:
    return float(frame.loc[(cell, END), col])


def test_used_over_available_and_passthrough() -> None:
    k = derive_kpis(
        _batch(
            [
                ("a", "RRU.PrbUsedDl", 136.5, False),
                ("a", "RRU.PrbAvailDl", 273, False),
                ("a", "RRU.PrbUsedUl", 27.3, False),
                ("a", "RRU.PrbAvailUl", 273, False),
                ("a", "DRB.UEThpDl", 1234.5, False),
            ]
        )
    )
    assert _kpi(k, "a") == pytest.approx(50.0)
    assert _kpi(k, "a", PRB_UTIL_UL) == pytest.approx(10.0)
    assert _kpi(k, "a", "DRB.UEThpDl") == 1234.5
    assert list(k.index.names) == ["cell", "period_end"]
    assert list(k.columns[:2]) == [PRB_UTIL_DL, PRB_UTIL_UL]
    assert not k.loc[("a", END), "suspect"]


def test_prb_tot_wins_over_used_avail() -> None:
    k = derive_kpis(
        _batch(
            [
                ("a", "RRU.PrbTotDl", 77.0, False),
                ("a", "RRU.PrbUsedDl", 10, False),
                ("a", "RRU.PrbAvailDl", 100, False),
                ("b", "RRU.PrbUsedDl", 10, False),  # no PrbTotDl for b: fall back per row
                ("b", "RRU.PrbAvailDl", 100, False),
            ]
        )
    )
    assert _kpi(k, "a") == 77.0
    assert _kpi(k, "b") == pytest.approx(10.0)
    assert np.isnan(_kpi(k, "a", PRB_UTIL_UL))


def test_zero_or_missing_available_is_nan() -> None:
    k = derive_kpis(
        _batch(
            [
                ("a", "RRU.PrbUsedDl", 10, False),
                ("a", "RRU.PrbAvailDl", 0, False),
                ("b", "RRU.PrbUsedDl", 10, False),
                ("c", "RRU.PrbAvailDl", 273, False),
            ]
        )
    )
    assert np.isnan(k[PRB_UTIL_DL]).all()


def test_suspect_rows_are_nan() -> None:
    k = derive_kpis(
        _batch(
            [
                ("a", "RRU.PrbTotDl", 50, True),
                ("a", "DRB.UEThpDl", 1.0, True),
                ("b", "RRU.PrbTotDl", 60, False),
            ]
        )
    )
    assert np.isnan(_kpi(k, "a"))
    assert np.isnan(_kpi(k, "a", "DRB.UEThpDl"))
    assert bool(k.loc[("a", END), "suspect"])
    assert _kpi(k, "b") == 60


def test_clipped_to_percent_range() -> None:
    k = derive_kpis(
        _batch(
            [
                ("a", "RRU.PrbUsedDl", 300, False),
                ("a", "RRU.PrbAvailDl", 273, False),
                ("b", "RRU.PrbTotDl", -5, False),
            ]
        )
    )
    assert _kpi(k, "a") == 100.0
    assert _kpi(k, "b") == 0.0


def test_duplicate_counter_last_wins_and_empty() -> None:
    k = derive_kpis(_batch([("a", "RRU.PrbTotDl", 10, False), ("a", "RRU.PrbTotDl", 20, False)]))
    assert _kpi(k, "a") == 20
    empty = derive_kpis(PmBatch.empty())
    assert empty.empty
    assert PRB_UTIL_DL in empty.columns


def test_direct_kpis_hand_computed() -> None:
    from rapp.telemetry.kpi import (
        ACTIVE_UE_DL,
        ACTIVE_UE_UL,
        ENERGY_KWH,
        KPIS,
        RRC_CONN_MAX,
        RRC_CONN_MEAN,
        THP_DL,
        THP_UL,
    )

    k = derive_kpis(
        _batch(
            [
                ("a", "DRB.UEThpDl", 120_000.5, False),
                ("a", "DRB.UEThpUl", 8_000.0, False),
                ("a", "DRB.MeanActiveUeDl", 12.5, False),
                ("a", "DRB.MeanActiveUeUl", 3.0, False),
                ("a", "RRC.ConnMean", 40.0, False),
                ("a", "RRC.ConnMax", 77.0, False),
                ("a", "PEE.Energy", 0.375, False),  # kWh over the ROP (1.5 kW for 15 min)
                ("b", "RRU.PrbUsedDl", 68.25, False),
                ("b", "RRU.PrbAvailDl", 273, False),
            ]
        )
    )
    assert list(k.columns[: len(KPIS)]) == list(KPIS)
    assert _kpi(k, "a", THP_DL) == 120_000.5
    assert _kpi(k, "a", THP_UL) == 8_000.0
    assert _kpi(k, "a", ACTIVE_UE_DL) == 12.5
    assert _kpi(k, "a", ACTIVE_UE_UL) == 3.0
    assert _kpi(k, "a", RRC_CONN_MEAN) == 40.0
    assert _kpi(k, "a", RRC_CONN_MAX) == 77.0
    assert _kpi(k, "a", ENERGY_KWH) == 0.375
    assert _kpi(k, "b") == pytest.approx(25.0)  # 68.25 / 273
    # b sent none of the direct inputs: NaN, not an error
    for name in (THP_DL, THP_UL, ACTIVE_UE_DL, ACTIVE_UE_UL, RRC_CONN_MEAN, RRC_CONN_MAX):
        assert np.isnan(_kpi(k, "b", name))
    assert np.isnan(_kpi(k, "a", PRB_UTIL_DL))


def test_missing_inputs_give_nan_columns() -> None:
    from rapp.telemetry.kpi import KPIS

    k = derive_kpis(_batch([("a", "Other.Counter", 1.0, False)]))
    assert all(np.isnan(_kpi(k, "a", name)) for name in KPIS)
    assert list(derive_kpis(PmBatch.empty()).columns) == [*KPIS, "suspect"]


def test_last_non_nan_wins_and_index_sorted() -> None:
    k = derive_kpis(
        _batch(
            [
                ("b", "RRC.ConnMean", 1.0, False),
                ("a", "RRC.ConnMean", 5.0, False),
                ("a", "RRC.ConnMean", np.nan, False),  # a later NaN does not erase 5
                ("b", "RRC.ConnMean", 2.0, False),
            ]
        )
    )
    assert k.index.get_level_values("cell").tolist() == ["a", "b"]
    assert _kpi(k, "a", "rrc_conn_mean") == 5.0
    assert _kpi(k, "b", "rrc_conn_mean") == 2.0
