"""The model registry: skops round trips, the type allow-list, the promotion gate, rollback,
the atomic champion pointer, hot swap with ``LiveModel``, and PSI drift."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import FunctionTransformer

from rapp.ml.baseline import SeasonalBaselineForecaster
from rapp.ml.card import DataSummary, ModelCard, dataset_sha256
from rapp.ml.drift import PSI_ACT, PSI_WATCH, DriftReference, drift_level, psi
from rapp.ml.live import LiveModel
from rapp.ml.panel import Panel
from rapp.ml.registry import (
    ModelNotFoundError,
    PromotionRefusedError,
    Registry,
    RegistryError,
    UntrustedModelError,
)

RNG = np.random.default_rng(7)
X = RNG.normal(size=(200, 4))
Y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + RNG.normal(scale=0.1, size=200)


def kpi_frame(cells: int = 20, rops: int = 192, seed: int = 1, level: float = 40.0) -> pd.DataFrame:
    """A long KPI frame like ``derive_kpis(batch).reset_index()``, daily-shaped PRB use."""
    rng = np.random.default_rng(seed)
    names = [
        f"SubNetwork=site-01,ManagedElement=gnb-{i:04d},GNBDUFunction=1,NRCellDU=1"
        for i in range(cells)
    ]
    times = pd.date_range("2026-03-02 00:15", periods=rops, freq="15min", tz="UTC")
    daily = np.sin(np.arange(rops) * 2 * np.pi / 96)
    prb = level + 20 * daily[None, :] + rng.normal(scale=5, size=(cells, rops))
    return pd.DataFrame(
        {
            "cell": np.repeat(names, rops),
            "period_end": np.tile(times, cells),
            "prb_util_dl": prb.reshape(-1),
            "thp_dl": (prb * 300).reshape(-1),
            "suspect": np.zeros(cells * rops, dtype=bool),
        }
    )


def ridge(alpha: float = 1.0) -> Ridge:
    return Ridge(alpha=alpha).fit(X, Y)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "models")


def save(registry: Registry, wape: float, data: str = "bt-1", alpha: float = 1.0) -> str:
    card = registry.save(
        ridge(alpha), name="fc", kind="forecaster", metrics={"wape_1h": wape}, backtest_sha256=data
    )
    return card.version


# -- files and cards -------------------------------------------------------------------------


def test_round_trip_gives_identical_predictions_and_card(registry: Registry) -> None:
    frame = kpi_frame()
    model = IsolationForest(n_estimators=20, random_state=0).fit(X)
    card = registry.save(model, name="det", kind="detector", training_data=frame, author="ana")
    loaded = registry.load("det", card.version)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    folder = registry.root / "det" / card.version
    assert {p.name for p in folder.iterdir()} == {"model.skops", "card.json", "README.md"}
    on_disk = registry.card("det", card.version)
    assert on_disk.to_dict() == card.to_dict()
    assert on_disk.author == "ana"
    assert on_disk.estimator == "sklearn.ensemble._iforest.IsolationForest"
    assert on_disk.params["n_estimators"] == 20
    assert on_disk.training is not None
    assert (on_disk.training.cells, on_disk.training.rows) == (20, len(frame))
    assert on_disk.training.start == frame["period_end"].min()
    assert on_disk.training.end == frame["period_end"].max()
    assert on_disk.training.sha256 == dataset_sha256(frame)
    assert set(on_disk.libraries) == {"python", "numpy", "pandas", "scikit-learn", "skops", "rapp"}
    # the drift reference is fitted on the training frame's KPI columns
    assert on_disk.drift_reference is not None
    assert on_disk.drift_reference.features == ("prb_util_dl", "thp_dl")
    readme = (folder / "README.md").read_text()
    assert "# det v1" in readme
    assert on_disk.training.sha256 in readme


def test_rapp_estimators_are_trusted(registry: Registry) -> None:
    history = kpi_frame(cells=5, rops=200)["prb_util_dl"].to_numpy().reshape(5, 200)
    model = SeasonalBaselineForecaster(season_length=96, horizon=4, n_origins=8).fit(history)
    registry.save(model, name="baseline", kind="forecaster")
    loaded = registry.load("baseline", "v1")
    np.testing.assert_array_equal(
        loaded.predict_quantiles(history), model.predict_quantiles(history)
    )


def test_versions_count_up_even_when_saved_concurrently(registry: Registry) -> None:
    cards: list[ModelCard] = []
    threads = [
        threading.Thread(
            target=lambda: cards.append(registry.save(ridge(), name="fc", kind="forecaster"))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c.version for c in cards) == ["v1", "v2", "v3", "v4"]
    assert registry.versions("fc") == ["v1", "v2", "v3", "v4"]
    assert not [p for p in (registry.root / "fc").iterdir() if p.name.startswith(".saving")]
    assert registry.save(ridge(), name="fc", kind="forecaster").version == "v5"


def test_bad_input_is_refused_clearly(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unfitted Ridge"):
        registry.save(Ridge(), name="fc", kind="forecaster")
    with pytest.raises(ValueError, match="not a model name"):
        registry.save(ridge(), name="../escape", kind="forecaster")
    with pytest.raises(ValueError, match="kind must be one of"):
        registry.save(ridge(), name="fc", kind="oracle")
    with pytest.raises(ValueError, match="backtest_data or backtest_sha256"):
        registry.save(ridge(), name="fc", kind="forecaster", metrics={"wape_1h": 0.2})
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        registry.load("nope")
    registry.save(ridge(), name="fc", kind="forecaster")
    with pytest.raises(ModelNotFoundError, match=r"no version v9 \(versions: v1\)"):
        registry.card("fc", "v9")
    with pytest.raises(ModelNotFoundError, match="no champion yet"):
        registry.load("fc")


class Holder(BaseEstimator):
    """An estimator whose fitted state holds a type outside the allow-list."""

    def __init__(self, value: object = None) -> None:
        self.value = value

    def fit(self, X: object, y: object = None) -> Holder:
        self.value_ = self.value
        return self


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        (FunctionTransformer(func=eval).fit(X), "builtins.eval"),
        (Holder(timedelta(minutes=15)).fit(X), "datetime.timedelta"),
        (Holder().fit(X), "tests.test_ml_registry.Holder"),
    ],
)
def test_types_outside_the_allow_list_are_refused_by_name(
    registry: Registry, model: object, refused: str
) -> None:
    pattern = refused.replace(".", r"\.")
    # refused when stored: the runtime could never load it
    with pytest.raises(UntrustedModelError, match=rf"not stored: .*{pattern}"):
        registry.save(model, name="bad", kind="detector")
    assert registry.versions("bad") == []
    # and refused when a file from elsewhere is planted in the registry
    registry.save(
        IsolationForest(n_estimators=5, random_state=0).fit(X), name="bad", kind="detector"
    )
    sio.dump(model, registry.root / "bad" / "v1" / "model.skops")
    with pytest.raises(UntrustedModelError, match=pattern):
        registry.load("bad", "v1")
    with pytest.raises(UntrustedModelError, match=pattern):
        registry.promote("bad", "v1")
    assert registry.current("bad") is None


def test_a_model_skops_cannot_rebuild_is_not_stored(registry: Registry) -> None:
    # skops cannot rebuild a pandas Timedelta even when trusted: store such state as numbers
    with pytest.raises(UntrustedModelError, match=r"Holder not stored.*pandas\.Timedelta"):
        registry.save(Holder(pd.Timedelta(minutes=15)).fit(X), name="step", kind="forecaster")


# -- the gate --------------------------------------------------------------------------------


def test_first_version_is_promoted_without_a_champion(registry: Registry) -> None:
    version = save(registry, 0.30)
    card = registry.promote("fc", version, by="ana")
    assert registry.current("fc") == "v1"
    assert card.promotion is not None
    assert (card.promotion.by, card.promotion.override, card.promotion.replaced) == (
        "ana",
        False,
        None,
    )
    assert registry.card("fc", "v1").promotion == card.promotion


def test_worse_challenger_is_refused_with_both_figures(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.30))
    worse = save(registry, 0.35)
    with pytest.raises(PromotionRefusedError, match=r"wape_1h 0\.35 vs 0\.3 \(lower is better\)"):
        registry.promote("fc", worse)
    tie = save(registry, 0.30)
    with pytest.raises(PromotionRefusedError, match="does not beat"):
        registry.promote("fc", tie)
    assert registry.current("fc") == "v1"
    assert registry.card("fc", worse).promotion is None


def test_challenger_scored_on_other_data_is_refused(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.30, data="week-10"))
    other = save(registry, 0.10, data="week-11")
    with pytest.raises(PromotionRefusedError, match="not scored on the same backtest"):
        registry.promote("fc", other)
    unscored = registry.save(ridge(), name="fc", kind="forecaster").version
    with pytest.raises(PromotionRefusedError, match="not scored on the same backtest"):
        registry.promote("fc", unscored)
    # re-scoring the champion on the challenger's data makes them comparable
    registry.add_backtest("fc", "v1", {"wape_1h": 0.25}, backtest_sha256="week-11")
    card = registry.promote("fc", other)
    assert card.promotion is not None
    assert (card.promotion.value, card.promotion.champion_value) == (0.10, 0.25)


def test_better_challenger_is_promoted_and_the_figures_recorded(registry: Registry) -> None:
    frame = kpi_frame()
    first = registry.save(
        ridge(), name="fc", kind="forecaster", metrics={"wape_1h": 0.3}, backtest_data=frame
    )
    registry.promote("fc", first.version)
    second = registry.save(
        ridge(2.0),
        name="fc",
        kind="forecaster",
        metrics={"wape_1h": 0.2},
        backtest_data=frame.sample(frac=1.0, random_state=0),
    )
    card = registry.promote("fc", second.version, by="ana")
    assert registry.current("fc") == "v2"
    assert card.promotion is not None
    assert (card.promotion.replaced, card.promotion.metric) == ("v1", "wape_1h")
    assert (card.promotion.value, card.promotion.champion_value) == (0.2, 0.3)
    assert (
        json.loads((registry.root / "fc/v2/card.json").read_text())["promotion"]["replaced"] == "v1"
    )


def test_detector_gate_prefers_higher_f1(registry: Registry) -> None:
    def detector(f1: float) -> str:
        model = IsolationForest(n_estimators=5, random_state=0).fit(X)
        return registry.save(
            model, name="det", kind="detector", metrics={"f1": f1}, backtest_sha256="events-1"
        ).version

    registry.promote("det", detector(0.8))
    with pytest.raises(PromotionRefusedError, match=r"f1 0\.7 vs 0\.8 \(higher is better\)"):
        registry.promote("det", detector(0.7))
    with pytest.raises(PromotionRefusedError, match="does not beat"):
        registry.promote("det", detector(0.8))  # a tie is not a win
    registry.promote("det", detector(0.9))
    assert registry.current("det") == "v4"


def test_override_promotes_and_is_recorded_with_its_reason(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.30))
    worse = save(registry, 0.40)
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.promote("fc", worse, override=True)
    card = registry.promote(
        "fc", worse, override=True, reason="new cells, old backtest stale", by="ana"
    )
    assert registry.current("fc") == worse
    recorded = json.loads((registry.root / "fc" / worse / "card.json").read_text())["promotion"]
    assert recorded["override"] is True
    assert recorded["reason"] == "new cells, old backtest stale"
    assert (recorded["value"], recorded["champion_value"]) == (0.4, 0.3)
    assert card.promotion is not None
    assert card.promotion.override
    assert "Override" in (registry.root / "fc" / worse / "README.md").read_text()
    assert registry.history("fc")[-1]["override"] is True


def test_rollback_walks_back_through_the_champions(registry: Registry) -> None:
    for wape in (0.3, 0.2, 0.1):
        registry.promote("fc", save(registry, wape))
    assert registry.current("fc") == "v3"
    assert registry.rollback("fc", by="ana", reason="bad night") == "v2"
    assert registry.current("fc") == "v2"
    assert registry.rollback("fc") == "v1"
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.rollback("fc")
    log = registry.history("fc")
    assert [e["action"] for e in log] == ["promote"] * 3 + ["rollback"] * 2
    assert (log[3]["from"], log[3]["version"], log[3]["by"], log[3]["reason"]) == (
        "v3",
        "v2",
        "ana",
        "bad night",
    )


def test_pointer_is_replaced_atomically(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.promote("fc", save(registry, 0.3))
    pointer = registry.pointer_path("fc")
    before, inode = pointer.read_text(), pointer.stat().st_ino
    challenger = save(registry, 0.2)

    def power_cut(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="disk gone"):
        registry.promote("fc", challenger)
    monkeypatch.undo()
    # the half-done promotion left the old pointer whole and no temporary file behind
    assert pointer.read_text() == before
    assert [p.name for p in pointer.parent.iterdir() if p.name.startswith(".current")] == []
    registry.promote("fc", challenger)
    assert pointer.stat().st_ino != inode  # a new file renamed over the old, not rewritten
    assert json.loads(pointer.read_text())["champions"] == ["v1", "v2"]


# -- hot swap --------------------------------------------------------------------------------


def test_live_model_picks_up_a_promotion_without_restart(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.3, alpha=1.0))
    now = [0.0]
    live = LiveModel(registry, "fc", check_every=10.0, clock=lambda: now[0])
    first = live.get()
    assert live.version == "v1"
    np.testing.assert_array_equal(first.predict(X), ridge(1.0).predict(X))
    registry.promote("fc", save(registry, 0.2, alpha=50.0))
    now[0] = 5.0
    assert live.get() is first  # not looked at again before check_every
    now[0] = 10.0
    swapped = live.get()
    assert live.version == "v2"
    assert live.error is None
    np.testing.assert_array_equal(swapped.predict(X), ridge(50.0).predict(X))
    assert live.card is not None
    assert live.card.version == "v2"
    registry.rollback("fc")
    now[0] = 20.0
    assert live.get() is not swapped  # a rollback is a pointer change like any other
    assert live.version == "v1"


def test_live_model_keeps_serving_when_the_new_champion_is_corrupt(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.3))
    live = LiveModel(registry, "fc", check_every=0.0)
    served = live.get()
    bad = save(registry, 0.2)
    registry.promote("fc", bad)
    (registry.root / "fc" / bad / "model.skops").write_bytes(b"not a zip file")
    assert live.get() is served
    assert live.version == "v1"
    assert live.error is not None
    assert "v2" in live.error
    assert "keeping v1" in live.error
    # once a good champion is promoted it is served again and the error clears
    registry.promote("fc", save(registry, 0.1), override=False)
    assert live.version == "v1"
    live.get()
    assert live.version == "v3"
    assert live.error is None


def test_live_model_without_a_champion_returns_none() -> None:
    live = LiveModel(Registry("/nonexistent/models"), "fc", check_every=0.0)
    assert live.get() is None
    assert live.version is None


def test_shadow_challenger_is_loaded_beside_the_champion(registry: Registry) -> None:
    registry.promote("fc", save(registry, 0.3, alpha=1.0))
    challenger = save(registry, 0.2, alpha=50.0)
    live = LiveModel(registry, "fc", shadow=challenger, check_every=0.0)
    np.testing.assert_array_equal(live.shadow().predict(X), ridge(50.0).predict(X))
    assert live.get() is not None
    assert live.version == "v1"
    missing = LiveModel(registry, "fc", shadow="v9", check_every=0.0)
    assert missing.shadow() is None
    assert "v9" in (missing.error or "")
    assert missing.get() is not None


# -- drift -----------------------------------------------------------------------------------


def test_psi_is_zero_on_training_data_and_large_when_shifted() -> None:
    frame = kpi_frame(cells=30, rops=288)
    reference = DriftReference.fit(frame)
    assert reference.features == ("prb_util_dl", "thp_dl")
    assert psi(reference, frame) == {"prb_util_dl": 0.0, "thp_dl": 0.0}
    fresh = psi(reference, kpi_frame(cells=30, rops=288, seed=2))
    assert max(fresh.values()) < PSI_WATCH
    busier = psi(reference, kpi_frame(cells=30, rops=288, seed=2, level=60.0))
    assert min(busier.values()) > PSI_ACT
    assert {drift_level(v) for v in busier.values()} == {"act"}


def test_psi_accepts_panels_and_arrays_and_survives_json() -> None:
    frame = kpi_frame()
    panel = Panel.from_frame(frame)
    reference = DriftReference.from_dict(
        json.loads(json.dumps(DriftReference.fit(panel).to_dict()))
    )
    assert psi(reference, frame) == pytest.approx({"prb_util_dl": 0.0, "thp_dl": 0.0}, abs=1e-12)
    matrix = frame[["prb_util_dl", "thp_dl"]].to_numpy()
    from_array = DriftReference.fit(matrix, feature_names=["prb_util_dl", "thp_dl"])
    assert from_array.edges == reference.edges
    assert psi(from_array, matrix + 30.0)["prb_util_dl"] > PSI_ACT
    with pytest.raises(ValueError, match="needs feature_names"):
        DriftReference.fit(matrix)
    with pytest.raises(ValueError, match=r"lacks features \['thp_dl'\]"):
        psi(reference, frame.drop(columns="thp_dl"))


def test_psi_ignores_nan_and_handles_constant_features() -> None:
    rng = np.random.default_rng(3)
    train = np.column_stack([rng.normal(size=5000), np.full(5000, 100.0), np.full(5000, np.nan)])
    names = ["noise", "clipped", "dead"]
    reference = DriftReference.fit(train, feature_names=names)
    current = np.column_stack([rng.normal(size=5000), np.full(5000, 100.0), rng.normal(size=5000)])
    current[rng.random(5000) < 0.3, 0] = np.nan  # gaps are not a change of population
    scores = psi(reference, current)
    assert np.isfinite(scores["noise"])
    assert scores["noise"] < PSI_WATCH
    assert scores["clipped"] == 0.0
    assert np.isnan(scores["dead"])
    assert drift_level(scores["dead"]) == "unknown"
    for level in (99.0, 101.0):  # a constant feature that moves either way is drift
        current[:, 1] = level
        assert psi(reference, current)["clipped"] > PSI_ACT
    assert drift_level(0.05) == "stable"
    assert drift_level(0.2) == "watch"


def test_dataset_hash_ignores_row_order_but_not_values() -> None:
    frame = kpi_frame(cells=5, rops=20)
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert dataset_sha256(shuffled) == dataset_sha256(frame)
    assert dataset_sha256(frame.set_index(["cell", "period_end"])) == dataset_sha256(frame)
    changed = frame.copy()
    changed.loc[7, "thp_dl"] += 1.0
    assert dataset_sha256(changed) != dataset_sha256(frame)
    summary = DataSummary.of(Panel.from_frame(frame))
    assert (summary.cells, summary.rows) == (5, 100)
    assert DataSummary.from_dict(summary.to_dict()) == summary
