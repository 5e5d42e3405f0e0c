"""The data scientist's workflow on a small simulated network: train, evaluate, report,
register, promote through the gate, and export what a running rApp saw."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from rapp.cli import app
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.panel import Panel, read_frame
from rapp.ml.registry import Registry
from simulators.o1.dataset import simulate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of 40 cells with labelled anomalies and artefacts, as the simulator writes."""
    folder = tmp_path_factory.mktemp("sim")
    data = simulate(40, start="2026-01-05", days=21, seed=3, anomalies=24, artefacts=0.001)
    data.to_parquet(folder)
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_train_a_forecaster_report_it_and_promote_it(dataset: Path, tmp_path: Path):
    root, report = tmp_path / "models", tmp_path / "report"
    result = run(
        "train", "forecaster", "--data", str(dataset), "--root", str(root),
        "--report", str(report), "--promote", "--author", "ds@example.org",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("forecaster v1: WAPE 1h ")
    assert "seasonal naive" in result.stdout
    assert "Holt-Winters" in result.stdout
    assert "forecaster v1 is now the champion" in result.stderr
    registry = Registry(root)
    card = registry.card("forecaster", "v1")
    assert card.author == "ds@example.org"
    assert 0.0 < card.metrics["wape_1h"] < card.metrics["baseline_seasonal_naive_wape_1h"]
    assert 0.7 < card.metrics["coverage_p90"] < 1.0
    assert card.training is not None
    assert card.training.cells == 40
    assert card.drift_reference is not None
    assert card.drift_reference.features == ("prb_util_dl",)
    page = (report / "index.html").read_text()
    assert "forecast_vs_actual.png" in page
    assert "seasonal naive" in page
    for png in ("forecast_vs_actual.png", "error_by_hour.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gate_compares_a_challenger_with_the_champion_on_the_same_holdout(
    dataset: Path, tmp_path: Path
):
    root = str(tmp_path / "models")
    assert run("train", "forecaster", "--data", str(dataset), "--root", root, "--promote")
    registry = Registry(root)
    assert registry.current("forecaster") == "v1"
    # A weak challenger (seasonal naive), registered without figures.
    panel = Panel.from_frame(read_frame(dataset), kpis=["prb_util_dl"])
    naive = SeasonalNaiveForecaster(horizon=8).fit(panel)
    registry.save(naive, name="forecaster", kind="forecaster")
    unscored = run("models", "promote", "forecaster", "v2", "--root", root)
    assert unscored.exit_code == 1
    assert "not scored on the same backtest" in unscored.stderr

    scored = run("evaluate", "forecaster:v2", "--data", str(dataset), "--root", root)
    assert scored.exit_code == 0, scored.output
    assert scored.stdout.startswith("forecaster v2: WAPE 1h ")
    v1, v2 = registry.card("forecaster", "v1"), registry.card("forecaster", "v2")
    assert v2.backtest_sha256 == v1.backtest_sha256  # the same holdout, so comparable
    assert v2.metrics["wape_1h"] > v1.metrics["wape_1h"]
    refused = run("models", "promote", "forecaster", "v2", "--root", root)
    assert refused.exit_code == 1
    assert "does not beat champion v1" in refused.stderr
    assert registry.current("forecaster") == "v1"

    forced = run(
        "models", "promote", "forecaster", "v2", "--root", root, "--force", "--reason", "drill"
    )
    assert forced.exit_code == 0, forced.output
    assert registry.card("forecaster", "v2").promotion.override is True
    assert run("models", "rollback", "forecaster", "--root", root).exit_code == 0
    assert registry.current("forecaster") == "v1"


def test_evaluate_says_what_is_wrong(dataset: Path, tmp_path: Path):
    missing = run("evaluate", "forecaster", "--data", str(dataset), "--root", str(tmp_path))
    assert missing.exit_code == 2
    assert "forecaster has no champion" in missing.stderr
    bad = run("train", "forecaster", "--data", str(dataset), "--holdout", "soon")
    assert bad.exit_code == 2
    assert "not a duration" in bad.output
    too_long = run(
        "train", "forecaster", "--data", str(dataset), "--root", str(tmp_path), "--holdout", "30d"
    )
    assert too_long.exit_code == 2
    assert "leaves nothing to train on" in too_long.stderr


def test_train_a_detector_against_the_ground_truth(dataset: Path, tmp_path: Path):
    root, report = tmp_path / "models", tmp_path / "report"
    result = run(
        "train", "detector", "--data", str(dataset), "--root", str(root), "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("detector v1: F1 ")
    card = Registry(root).card("detector", "v1")
    events = pd.read_parquet(dataset / "events.parquet")
    week = events[events["end"] >= events["end"].max() - pd.Timedelta(days=7)]
    assert card.metrics["n_events"] >= 1
    assert card.metrics["n_events"] <= len(week)
    assert card.metrics["recall"] > 0.5
    assert card.metrics["n_artefacts_flagged"] == 0
    assert "pr_curve.png" in (report / "index.html").read_text()
    shown = run("models", "show", "detector", "v1", "--root", str(root), "--json")
    assert json.loads(shown.stdout)["kind"] == "detector"


def test_evaluate_a_detector_files_its_event_figures(dataset: Path, tmp_path: Path):
    root = str(tmp_path / "models")
    assert run("train", "detector", "--data", str(dataset), "--root", root).exit_code == 0
    trained = Registry(root).card("detector", "v1")
    report = tmp_path / "report"
    scored = run(
        "evaluate", "detector:v1", "--data", str(dataset), "--root", root, "--report", str(report)
    )
    assert scored.exit_code == 0, scored.output
    assert scored.stdout.startswith("detector v1: F1 ")
    card = Registry(root).card("detector", "v1")
    assert len(card.backtests) == 2
    assert card.backtest_sha256 == trained.backtest_sha256  # the same holdout, same figures
    assert card.metrics["f1"] == trained.metrics["f1"]
    assert (report / "pr_curve.png").exists()

    bare = tmp_path / "kpis-only.parquet"
    pd.read_parquet(dataset / "kpis.parquet").to_parquet(bare)
    unlabelled = run("evaluate", "detector:v1", "--data", str(bare), "--root", root)
    assert unlabelled.exit_code == 2
    assert "no events.parquet or events.csv beside" in unlabelled.stderr
