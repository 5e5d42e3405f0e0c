from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rapp.cli import app
from rapp.ml.panel import Panel, read_frame
from rapp.telemetry.archive import TelemetryArchive
from rapp.telemetry.kpi import KPIS


def kpis(day: str, rops: int, cells: int = 3, level: float = 10.0) -> pd.DataFrame:
    """A ``derive_kpis``-shaped frame: (cell, period_end) index, every KPI, a raw counter."""
    ends = pd.date_range(day, periods=rops, freq="15min", tz="UTC")
    index = pd.MultiIndex.from_product(
        [[f"NRCellDU={c}" for c in range(cells)], ends], names=["cell", "period_end"]
    )
    frame = pd.DataFrame({k: level for k in KPIS}, index=index)
    frame["prb_util_dl"] = np.arange(len(frame), dtype=float) + level
    frame["RRU.PrbUsedDl"] = 1.0  # a raw counter: not archived
    frame["suspect"] = False
    return frame


def test_written_rows_come_back_as_one_long_frame(tmp_path: Path):
    archive = TelemetryArchive(tmp_path)
    first = kpis("2026-03-01T23:30Z", 4)  # crosses midnight: two day folders
    assert archive.write(first) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-03-01", "date=2026-03-02"]
    again = kpis("2026-03-02T00:00Z", 2, level=99.0)  # the same rows re-ingested after a restart
    archive.write(again)
    frame = archive.read()
    assert list(frame.columns) == ["cell", "period_end", *KPIS, "suspect"]
    assert len(frame) == 12  # one row per (cell, period end): the last copy wins
    late = frame[frame["period_end"] >= pd.Timestamp("2026-03-02T00:00Z")]
    assert (late["energy_kwh"] == 99.0).all()
    since = archive.read(since=datetime(2026, 3, 2, 0, 15, tzinfo=UTC))
    assert set(since["period_end"]) == {pd.Timestamp("2026-03-02T00:15Z")}
    panel = Panel.from_frame(frame)
    assert panel.kpi("prb_util_dl").shape == (3, 4)


def test_days_older_than_the_newest_minus_keep_days_are_dropped(tmp_path: Path):
    archive = TelemetryArchive(tmp_path, keep_days=2)
    archive.write(kpis("2026-03-01T12:00Z", 1))
    archive.write(kpis("2026-03-02T12:00Z", 1))
    archive.write(kpis("2026-03-03T12:00Z", 1))
    assert len(archive.files()) == 3  # 03-01 is exactly 2 days back: kept
    archive.write(kpis("2026-03-04T12:00Z", 1))
    assert [p.parent.name for p in archive.files()] == [
        "date=2026-03-02",
        "date=2026-03-03",
        "date=2026-03-04",
    ]
    with pytest.raises(ValueError, match="keep_days"):
        TelemetryArchive(tmp_path, keep_days=0)


def test_rapp_export_telemetry(tmp_path: Path):
    TelemetryArchive(tmp_path / "arch").write(kpis("2026-03-01T00:00Z", 8))
    runner = CliRunner()
    out = tmp_path / "out" / "seen.parquet"
    result = runner.invoke(
        app,
        [
            "export",
            "telemetry",
            "--archive",
            str(tmp_path / "arch"),
            "--out",
            str(out),
            "--since",
            "2026-03-01T00:30:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "18 rows, 3 cells" in result.stderr
    frame = read_frame(out)
    assert len(frame) == 18
    assert frame["period_end"].min() == pd.Timestamp("2026-03-01T00:30Z")

    csv = tmp_path / "seen.csv"
    assert (
        runner.invoke(
            app, ["export", "telemetry", "--archive", str(tmp_path / "arch"), "--out", str(csv)]
        ).exit_code
        == 0
    )
    assert len(read_frame(csv)) == 24

    empty = runner.invoke(
        app, ["export", "telemetry", "--archive", str(tmp_path / "none"), "--out", str(csv)]
    )
    assert empty.exit_code == 2
    assert "no archived telemetry" in empty.stderr


def test_rapp_export_telemetry_without_an_archive_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("RAPP_TELEMETRY__ARCHIVE_DIR", raising=False)
    monkeypatch.delenv("RAPP_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["export", "telemetry", "--out", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "RAPP_TELEMETRY__ARCHIVE_DIR" in result.stderr
    bad = CliRunner().invoke(
        app, ["export", "telemetry", "--out", str(tmp_path / "x.parquet"), "--since", "monday"]
    )
    assert bad.exit_code == 2
    assert "not an ISO 8601 time" in bad.output
