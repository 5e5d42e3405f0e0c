import numpy as np
import pandas as pd
from sklearn.base import clone

from rapp.ml import RopForecaster, SeasonalBaselineForecaster
from rapp.ml.forecasting import state_panel
from rapp.ml.live import LiveModel
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.panel import Panel
from rapp.ml.registry import Registry
from rapp.state import CellState

SEASON = 24


def seasonal_history(n_cells: int, n_seasons: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(SEASON * n_seasons)
    level = rng.uniform(20, 60, size=(n_cells, 1))
    shape = 1 + 0.5 * np.sin(2 * np.pi * t / SEASON)
    return level * shape + rng.normal(0, noise, size=(n_cells, t.size))


def test_estimator_contract():
    model = SeasonalBaselineForecaster(season_length=SEASON, horizon=3)
    assert model.get_params()["season_length"] == SEASON
    cloned = clone(model)
    assert not hasattr(cloned, "residual_quantiles_")
    model.fit(seasonal_history(5, 3, 1.0))
    assert model.residual_quantiles_.shape == (2, 3)
    assert model.predict(seasonal_history(5, 3, 1.0)).shape == (5, 3)


def test_beats_persistence_on_seasonal_data_and_p90_covers():
    history = seasonal_history(200, 4, noise=2.0)
    train, future = history[:, : -SEASON // 2], history[:, -SEASON // 2 :]
    model = SeasonalBaselineForecaster(season_length=SEASON, n_seasons=2, horizon=4).fit(train)
    p50, p90 = model.predict_quantiles(train)
    actual = future[:, :4]
    persistence = np.repeat(train[:, -1:], 4, axis=1)
    assert np.abs(p50 - actual).mean() < 0.5 * np.abs(persistence - actual).mean()
    coverage = (actual <= p90).mean()
    assert 0.75 < coverage < 0.99


def test_short_history_falls_back_to_persistence():
    history = np.array([[np.nan, 10.0, 12.0, 14.0, 15.0, 16.0, 17.0]])
    model = SeasonalBaselineForecaster(season_length=96, horizon=2, n_origins=3).fit(history)
    p50 = model.predict(history)
    assert np.isfinite(p50).all()
    assert abs(p50[0, 0] - 17.0) < 3.0


def test_rop_forecaster_refits_on_schedule_and_labels_the_forecast():
    state = CellState(["kpi"], granularity_s=900, retention=64)
    start = pd.Timestamp("2026-01-01T00:00Z")
    values = seasonal_history(3, 2, 0.5)
    for i in range(values.shape[1]):
        end = start + (i + 1) * pd.Timedelta(minutes=15)
        idx = pd.MultiIndex.from_arrays([["a", "b", "c"], pd.DatetimeIndex([end] * 3)])
        state.ingest(pd.DataFrame({"kpi": values[:, i]}, index=idx))
    model = SeasonalBaselineForecaster(season_length=SEASON, horizon=4)
    rf = RopForecaster(model, kpi="kpi", fit_window=48, refit_every=10)
    forecast = rf.forecast(state, end)
    assert forecast is not None
    assert forecast.values.shape == (2, 3, 4)
    assert forecast.issued_at == end
    assert forecast.step == pd.Timedelta(minutes=15)
    fitted = model.residual_quantiles_.copy()
    model.residual_quantiles_ = fitted + 1000  # a refit would overwrite this
    rf.forecast(state, end)
    assert (model.residual_quantiles_ > 500).all()  # not due yet


# ---- the registry's champion, served by the loop


def daily_state(
    days: int = 3, cells: int = 4, kpi: str = "prb_util_dl"
) -> tuple[CellState, pd.Timestamp]:
    """A state with ``days`` of 15-minute ROPs of a daily-shaped KPI."""
    state = CellState([kpi], granularity_s=900, retention=7 * 96 + 1)
    start = pd.Timestamp("2026-01-05T00:00Z")
    rops = days * 96
    t = np.arange(rops)
    level = np.linspace(20, 60, cells)[:, None]
    values = level * (1 + 0.5 * np.sin(2 * np.pi * t / 96))
    names = [f"c{i}" for i in range(cells)]
    ends = start + pd.to_timedelta((t + 1) * 15, unit="min")
    idx = pd.MultiIndex.from_product([names, ends], names=["cell", "period_end"])
    state.ingest(pd.DataFrame({kpi: values.reshape(-1)}, index=idx))
    return state, ends[-1]


def test_the_loop_serves_a_promoted_champion_and_falls_back_to_the_baseline(tmp_path):
    state, end = daily_state()
    registry = Registry(tmp_path)
    live = LiveModel(registry, "forecaster", check_every=0.0)
    baseline = SeasonalBaselineForecaster(season_length=96, horizon=4)
    rf = RopForecaster(
        baseline, kpi="prb_util_dl", fit_window=192, refit_every=4, live=live, quantile=0.9
    )
    first = rf.forecast(state, end)
    assert first is not None
    assert first.model == "seasonal baseline"
    assert rf.status()["serving"] == "seasonal baseline"

    train = Panel.from_frame(
        pd.DataFrame(
            {
                "cell": ["x"] * 300,
                "period_end": pd.date_range("2025-12-01", periods=300, freq="15min", tz="UTC"),
                "prb_util_dl": 30 + 10 * np.sin(np.arange(300) * 2 * np.pi / 96),
            }
        )
    )
    naive = SeasonalNaiveForecaster(horizon=4, band_origins=50).fit(train)
    card = registry.save(naive, name="forecaster", kind="forecaster", training_data=train)
    registry.promote("forecaster", card.version)
    served = rf.forecast(state, end)  # picked up without a restart
    assert served is not None
    assert served.model == "forecaster v1"
    # Seasonal naive: tomorrow's first ROP is today's first ROP.
    day_ago = state.window("prb_util_dl", end, 96)[:, 0]
    np.testing.assert_allclose(served.quantile(0.5)[:, 0], day_ago, rtol=1e-5)
    drift = rf.drift(state, end)
    assert set(drift) == {"prb_util_dl"}
    assert drift["prb_util_dl"] >= 0.0
    assert rf.status()["drift"]["prb_util_dl"]["level"] in {"stable", "watch", "act"}
    quarter, hour = pd.Timedelta(minutes=15), pd.Timedelta(hours=1)
    assert rf.drift(state, end + quarter) is drift  # once an hour, not every ROP
    assert rf.drift(state, end + hour) is not drift

    # A champion that cannot give the planner its P90 is not served: the baseline decides.
    p50_only = SeasonalNaiveForecaster(horizon=4, quantiles=(0.5,), band_origins=50).fit(train)
    v2 = registry.save(p50_only, name="forecaster", kind="forecaster")
    registry.promote("forecaster", v2.version, override=True, reason="test")
    fallback = rf.forecast(state, end)
    assert fallback is not None
    assert fallback.model == "seasonal baseline"
    assert "planner needs prb_util_dl at 0.9" in rf.status()["error"]
    assert rf.drift(state, end) == {}  # the baseline learns on live data: no drift to report


def loop_forecaster(live: LiveModel) -> RopForecaster:
    """The loop's forecaster over two days of history, serving ``live``'s models."""
    return RopForecaster(
        SeasonalBaselineForecaster(season_length=96, horizon=4),
        kpi="prb_util_dl",
        fit_window=192,
        refit_every=4,
        live=live,
    )


def test_a_shadow_challenger_is_forecast_beside_the_champion(tmp_path):
    state, end = daily_state(days=2)
    registry = Registry(tmp_path)
    panel = state_panel(state, "prb_util_dl", end, 192)
    card = registry.save(
        SeasonalNaiveForecaster(horizon=4, band_origins=20).fit(panel),
        name="forecaster",
        kind="forecaster",
    )
    live = LiveModel(registry, "forecaster", shadow=card.version, check_every=0.0)
    rf = loop_forecaster(live)
    assert rf.forecast(state, end).model == "seasonal baseline"  # never promoted
    shadow = rf.shadow(state, end)
    assert shadow is not None
    assert shadow.model == "forecaster v1 (shadow)"
    assert shadow.values.shape == (2, 4, 4)


def test_the_history_the_loop_holds_follows_the_champion_and_the_shadow(tmp_path):
    state, end = daily_state(days=2)
    panel = state_panel(state, "prb_util_dl", end, 192)
    registry = Registry(tmp_path)
    live = LiveModel(registry, "forecaster", check_every=0.0)
    rf = loop_forecaster(live)
    assert rf.history_rops() == 192  # the baseline's fit window, while nothing is promoted
    four_days = SeasonalNaiveForecaster(horizon=4, band_origins=20, lookback=4).fit(panel)
    card = registry.save(four_days, name="forecaster", kind="forecaster")
    registry.promote("forecaster", card.version)
    assert rf.history_rops() == 4 * 96 + 1
    six_days = SeasonalNaiveForecaster(horizon=4, band_origins=20, lookback=6).fit(panel)
    shadow = registry.save(six_days, name="forecaster", kind="forecaster")
    rf.live = LiveModel(registry, "forecaster", shadow=shadow.version, check_every=0.0)
    assert rf.history_rops() == 6 * 96 + 1  # the shadow must be served the history it reads


def test_the_api_says_which_model_serves(tmp_path):
    from fastapi.testclient import TestClient

    from rapp.api import create_app
    from rapp.store import Journal

    state, end = daily_state(days=2)
    rf = RopForecaster(
        SeasonalBaselineForecaster(season_length=96, horizon=4),
        kpi="prb_util_dl",
        fit_window=192,
        refit_every=4,
        live=LiveModel(Registry(tmp_path), "forecaster", shadow="v7", check_every=0.0),
    )
    rf.forecast(state, end)
    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    app = create_app(journal, dict, models=lambda: {"forecaster": rf.status()})
    body = TestClient(app).get("/api/v1/models").json()
    journal.close()
    assert body["forecaster"]["serving"] == "seasonal baseline"
    assert body["forecaster"]["shadow"] == "v7"
    assert "shadow forecaster v7 not loaded" in body["forecaster"]["error"]


def test_a_working_shadow_does_not_hide_why_the_champion_is_not_served(tmp_path):
    state, end = daily_state(days=2)
    registry = Registry(tmp_path)
    panel = state_panel(state, "prb_util_dl", end, 192)
    p50_only = SeasonalNaiveForecaster(horizon=4, quantiles=(0.5,), band_origins=20).fit(panel)
    registry.promote(
        "forecaster", registry.save(p50_only, name="forecaster", kind="forecaster").version
    )
    good = registry.save(
        SeasonalNaiveForecaster(horizon=4, band_origins=20).fit(panel),
        name="forecaster",
        kind="forecaster",
    )
    rf = RopForecaster(
        SeasonalBaselineForecaster(season_length=96, horizon=4),
        kpi="prb_util_dl",
        fit_window=192,
        refit_every=4,
        live=LiveModel(registry, "forecaster", shadow=good.version, check_every=0.0),
    )
    assert rf.forecast(state, end).model == "seasonal baseline"
    assert rf.shadow(state, end).model == "forecaster v2 (shadow)"
    assert "forecaster v1 not served" in rf.status()["error"]
