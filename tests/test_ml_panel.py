from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rapp.domain import PmBatch
from rapp.ml.panel import Panel, read_frame
from rapp.telemetry.kpi import derive_kpis

T = pd.date_range("2026-03-02", periods=4, freq="15min", tz="UTC")


def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": ["b", "a", "a", "b", "a", "a"],
            "period_end": [T[0], T[0], T[1], T[3], T[3], T[1]],
            "prb_util_dl": [1.0, 2.0, 3.0, 4.0, 5.0, 30.0],
            "thp_dl": [10.0, 20.0, 30.0, 40.0, 50.0, 300.0],
            "suspect": [False, False, False, False, True, False],
        }
    )


def test_from_frame_puts_every_row_on_the_grid():
    panel = Panel.from_frame(long_frame())
    assert list(panel.cells) == ["a", "b"]
    assert list(panel.times) == list(T)  # T[2] reported by nobody: still a column
    assert panel.step == pd.Timedelta(minutes=15)
    assert panel.kpis == ("prb_util_dl", "thp_dl")
    np.testing.assert_array_equal(
        panel.kpi("prb_util_dl"),
        # a's second T[1] row wins (the last one); a suspect row is a gap, not a value
        [[2.0, 30.0, np.nan, np.nan], [1.0, np.nan, np.nan, 4.0]],
    )


def test_round_trip_through_the_long_frame():
    panel = Panel.from_frame(long_frame())
    frame = panel.to_frame()
    assert list(frame.columns) == ["cell", "period_end", "prb_util_dl", "thp_dl"]
    assert len(frame) == 8
    assert str(frame["period_end"].dtype) == "datetime64[ns, UTC]"
    again = Panel.from_frame(frame)
    for kpi in panel.kpis:
        np.testing.assert_array_equal(again.kpi(kpi), panel.kpi(kpi))


def test_select_and_window():
    panel = Panel.from_frame(long_frame())
    picked = panel.select(["b", "nowhere"])
    np.testing.assert_array_equal(picked.kpi("thp_dl")[0], [10.0, np.nan, np.nan, 40.0])
    assert np.isnan(picked.kpi("thp_dl")[1]).all()
    assert not np.isnan(panel.kpi("thp_dl")).all(axis=1).any()  # the source is untouched
    tail = panel.window(-2)
    assert list(tail.times) == list(T[2:])
    assert tail.kpi("prb_util_dl").shape == (2, 2)


def test_derive_kpis_output_is_a_panel_input():
    rows = [
        (cell, T[i], counter, value)
        for i in range(2)
        for cell in ("c1", "c2")
        for counter, value in (("RRU.PrbUsedDl", 10.0 * (i + 1)), ("RRU.PrbAvailDl", 100.0))
    ]
    frame = pd.DataFrame(rows, columns=["cell", "period_end", "counter", "value"])
    frame["granularity_s"] = 900
    frame["suspect"] = False
    kpis = derive_kpis(PmBatch(frame))
    panel = Panel.from_frame(kpis)  # indexed by (cell, period_end)
    np.testing.assert_allclose(panel.kpi("prb_util_dl"), [[10.0, 20.0], [10.0, 20.0]])


def test_bad_frames_say_what_is_wrong():
    with pytest.raises(ValueError, match="needs columns"):
        Panel.from_frame(pd.DataFrame({"cell": ["a"], "x": [1.0]}))
    with pytest.raises(ValueError, match="no KPI columns"):
        Panel.from_frame(long_frame()[["cell", "period_end"]])
    with pytest.raises(ValueError, match=r"KPI columns \['energy_kwh'\] not in the frame"):
        Panel.from_frame(long_frame(), kpis=["energy_kwh"])
    off = long_frame()
    off.loc[0, "period_end"] = T[0] + pd.Timedelta(minutes=5)
    with pytest.raises(ValueError, match="off the 0 days 00:15:00 grid"):
        Panel.from_frame(off, step=pd.Timedelta(minutes=15))
    with pytest.raises(KeyError, match="not in the panel"):
        Panel.from_frame(long_frame()).kpi("energy_kwh")
    with pytest.raises(ValueError, match="expected"):
        Panel(pd.Index(["a"]), T, {"prb_util_dl": np.zeros((2, 4))})


def test_read_frame_from_parquet_csv_and_a_directory(tmp_path: Path):
    frame = long_frame()
    frame.iloc[:3].to_parquet(tmp_path / "part1.parquet")
    frame.iloc[3:].to_csv(tmp_path / "part2.csv", index=False)
    both = read_frame(tmp_path)
    assert len(both) == len(frame)
    assert str(both["period_end"].dtype) == "datetime64[ns, UTC]"
    np.testing.assert_array_equal(
        Panel.from_frame(both).kpi("thp_dl"), Panel.from_frame(frame).kpi("thp_dl")
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.parquet or \.csv files in"):
        read_frame(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_frame(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"expected a \.parquet or \.csv file"):
        read_frame(tmp_path / "notes.txt")


def test_read_frame_of_a_dataset_folder_reads_its_kpis_only(tmp_path: Path):
    long_frame().to_parquet(tmp_path / "kpis.parquet")
    pd.DataFrame({"event_id": [1], "cell": ["a"]}).to_parquet(tmp_path / "events.parquet")
    assert len(read_frame(tmp_path)) == len(long_frame())
