"""Counter mapping: shipped table, operator overrides (later file wins), scale, unknown names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rapp.domain import PmBatch
from rapp.telemetry.mapping import (
    DEFAULT_TABLE,
    CounterMapError,
    load_counter_map,
)

END = pd.Timestamp("2025-01-06T12:00Z")


def _batch(rows: list[tuple[str, str, float]]) -> PmBatch:
    cell, counter, value = zip(*rows, strict=True)
    n = len(rows)
    return PmBatch(
        pd.DataFrame(
            {
                "cell": pd.Series(cell, dtype=object),
                "period_end": pd.Series([END] * n, dtype="datetime64[ns, UTC]"),
                "granularity_s": np.full(n, 900, dtype="int32"),
                "counter": pd.Series(counter, dtype=object),
                "value": np.asarray(value, dtype=float),
                "suspect": np.zeros(n, dtype=bool),
            }
        )
    )


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_table_loads_and_maps_energy_wh_to_kwh() -> None:
    cmap = load_counter_map()
    assert cmap.lookup("pmConsumedEnergy").name == "PEE.Energy"
    out = cmap.apply(_batch([("a", "pmConsumedEnergy", 1500.0), ("a", "RRU.PrbUsedDL", 7.0)]))
    assert out.frame["counter"].tolist() == ["PEE.Energy", "RRU.PrbUsedDl"]
    assert out.frame["value"].tolist() == [1.5, 7.0]


def test_unknown_counters_untouched_and_sample_names_unmapped() -> None:
    cmap = load_counter_map()
    batch = _batch([("a", "attTCHSeizures", 813.0), ("a", "pmCounterNumber530", 2.0)])
    out = cmap.apply(batch)
    pd.testing.assert_frame_equal(out.frame, batch.frame)


def test_later_file_overrides_earlier(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", "vX: {name: RRU.PrbUsedDl, scale: 2}\nvY: DRB.UEThpDl\n")
    second = _write(tmp_path, "b.yaml", "vX: {name: RRU.PrbAvailDl, note: site override}\n")
    cmap = load_counter_map(DEFAULT_TABLE, first, second)
    assert cmap.lookup("vX").name == "RRU.PrbAvailDl"
    assert cmap.lookup("vX").scale == 1.0
    assert cmap.lookup("vY").name == "DRB.UEThpDl"
    assert "pmConsumedEnergy" in cmap  # the shipped table is still there underneath
    reverse = load_counter_map(second, first)
    assert reverse.lookup("vX").name == "RRU.PrbUsedDl"
    assert reverse.lookup("vX").scale == 2.0


def test_scale_rename_and_distribution_bins(tmp_path: Path) -> None:
    table = _write(tmp_path, "t.yaml", "thpBps: {name: DRB.UEThpDl, scale: 0.001}\nh: H\n")
    cmap = load_counter_map(table)
    out = cmap.apply(
        _batch(
            [
                ("a", "thpBps", 250_000.0),
                ("b", "thpBps", np.nan),
                ("a", "h[0]", 3.0),
                ("a", "other", 9.0),
            ]
        )
    ).frame
    assert out["counter"].tolist() == ["DRB.UEThpDl", "DRB.UEThpDl", "H[0]", "other"]
    assert out["value"].iloc[0] == pytest.approx(250.0)
    assert np.isnan(out["value"].iloc[1])
    assert out["value"].iloc[2:].tolist() == [3.0, 9.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping"),
        ("x: {scale: 2}\n", "'name'"),
        ("x: {name: Y, scale: fast}\n", "'scale'"),
        ("x: {name: Y, unit: W}\n", "unknown keys"),
        ("x: [1]\n", "expected {name"),
        ("x: {name: Y\n", "t.yaml"),
    ],
)
def test_bad_tables_say_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CounterMapError, match=message.replace("{", r"\{").replace("[", r"\[")):
        load_counter_map(_write(tmp_path, "t.yaml", text))
