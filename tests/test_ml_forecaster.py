"""The global forecaster, its baselines and the rolling-origin backtest, on a synthetic network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from scipy.signal import lfilter
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from rapp.domain import Forecast
from rapp.ml import features
from rapp.ml.backtest import BacktestResult, backtest, busy_hours, evaluate
from rapp.ml.forecaster import Forecaster
from rapp.ml.holt_winters import HoltWintersForecaster
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.panel import Panel

KPI = "prb_util_dl"
DAY = 96
WEEK = 7 * DAY
START = pd.Timestamp("2026-03-02T00:15Z")  # the first ROP of a Monday


def synthetic_panel(n_cells: int = 40, days: int = 21, seed: int = 0, missing: float = 0.01):
    """Office and evening cells at different levels: daily and weekly cycles, AR noise, gaps."""
    rng = np.random.default_rng(seed)
    T = days * DAY
    hour = (np.arange(T) % DAY) / 4.0
    weekend = (np.arange(T) // DAY) % 7 >= 5
    level = rng.lognormal(np.log(20), 0.6, size=(n_cells, 1))
    office = rng.uniform(0, 1, size=(n_cells, 1))
    shape = (
        0.15
        + office * np.exp(-0.5 * ((hour - 11) / 2.5) ** 2)
        + (1 - office) * np.exp(-0.5 * ((hour - 20) / 2.0) ** 2)
    )
    week = np.where(weekend, 1 - 0.6 * office, 1 + 0.2 * (1 - office))
    ar = lfilter([1.0], [1.0, -0.85], rng.normal(0, 0.08, size=(n_cells, T)), axis=1)
    X = level * shape * week * np.exp(ar) * (1 + rng.normal(0, 0.05, size=(n_cells, T)))
    X[rng.random(X.shape) < missing] = np.nan
    cells = pd.Index(
        [
            f"SubNetwork=site-{i // 3:02d},ManagedElement=gnb-{i:04d},NRCellDU=1"
            for i in range(n_cells)
        ],
        name="cell",
    )
    times = pd.date_range(START, periods=T, freq="15min")
    return Panel(cells, times, {KPI: X})


def small_forecaster(**params: object) -> Forecaster:
    # One thread: other jobs share this machine's two cores (see Forecaster's n_threads).
    return Forecaster(**{"max_samples": 40_000, "n_threads": 1, **params})


@pytest.fixture(scope="module")
def split() -> tuple[Panel, Panel]:
    panel = synthetic_panel()
    return panel.window(0, 2 * WEEK), panel.window(2 * WEEK, None)


@pytest.fixture(scope="module")
def fitted(split: tuple[Panel, Panel]) -> Forecaster:
    return small_forecaster().fit(split[0])


def test_forecaster_beats_the_baselines_on_a_held_out_week_and_p90_covers(split, fitted):
    train, test = split
    ours = evaluate(fitted, train, test, every=8)
    daily = evaluate(SeasonalNaiveForecaster(), train, test, fit=True, every=8)
    weekly = evaluate(SeasonalNaiveForecaster(season="week"), train, test, fit=True, every=8)
    hw = evaluate(HoltWintersForecaster(history_days=5), train, test, fit=True, every=8)
    assert ours.wape_at("1h") <= 0.75 * min(daily.wape_at("1h"), weekly.wape_at("1h"))
    assert ours.wape_at("1h") < hw.wape_at("1h")
    assert 0.85 <= ours.coverage(0.9) <= 0.95
    # The baselines' bands come from their own backtest errors: calibrated too, if wider.
    for baseline in (daily, weekly, hw):
        assert 0.8 <= baseline.coverage(0.9) <= 0.97
    # Every test ROP is scored: the first forecast reads train's tail as its history.
    assert ours.origins[0] == train.times[-1]
    assert ours.origins[-1] + ours.horizon * ours.step <= test.times[-1]


def test_forecast_is_labelled_and_quantiles_are_ordered(split, fitted):
    train, _ = split
    forecast = fitted.forecast(train)
    assert isinstance(forecast, Forecast)
    assert forecast.issued_at == train.times[-1]
    assert forecast.step == pd.Timedelta(minutes=15)
    assert list(forecast.cells) == list(train.cells)
    assert forecast.values.shape == (2, len(train.cells), 8)
    assert (forecast.quantile(0.9) >= forecast.quantile(0.5)).all()
    assert np.array_equal(fitted.predict(train), forecast.quantile(0.5))
    # The long frame of the data contract gives the same panel, hence the same forecasts.
    again = Panel.from_frame(train.to_frame())
    assert np.array_equal(fitted.predict_quantiles(again), forecast.values, equal_nan=True)


def test_a_model_of_another_feature_set_is_refused(split, fitted):
    train, _ = split
    stale = clone(fitted).fit(train)
    stale.feature_names_ = stale.feature_names_[:-1]
    with pytest.raises(ValueError, match="retrain"):
        stale.predict_quantiles(train)


def test_nan_history_is_handled(split, fitted):
    train, _ = split
    X = train.kpi(KPI).copy()
    X[0, :] = np.nan  # a cell never seen
    X[1] *= 50.0  # a big cell...
    X[1, -DAY:] = np.nan  # ...silent for the last day
    X[2, -1] = np.nan  # the last ROP missing
    X[3, -WEEK:-DAY] = np.nan  # a week of history mostly gone
    holed = Panel(train.cells, train.times, {KPI: X})
    model = small_forecaster().fit(holed)
    out = model.predict_quantiles(holed)
    assert np.isnan(out[:, 0]).all()
    assert np.isfinite(out[:, 1:]).all()
    assert (out[:, 1:] >= 0).all()
    # The silent cell is forecast at its own level (its last week's), not at some other scale.
    level = np.nanmean(X[1, -WEEK:])
    assert 0.2 * level < out[0, 1].mean() < 3 * level
    for baseline in (SeasonalNaiveForecaster(), HoltWintersForecaster(history_days=5)):
        band = baseline.fit(holed).predict_quantiles(holed)
        assert np.isnan(band[:, 0]).all(), type(baseline).__name__
        assert np.isfinite(band[:, 1:]).all(), type(baseline).__name__


def test_same_random_state_same_predictions(split):
    train, _ = split
    a = small_forecaster(random_state=7, max_iter=8).fit(train).predict_quantiles(train)
    b = small_forecaster(random_state=7, max_iter=8).fit(train).predict_quantiles(train)
    c = small_forecaster(random_state=8, max_iter=8).fit(train).predict_quantiles(train)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_one_model_serves_every_level(split, fitted):
    """Features are relative to the cell's level, so a cell ten times bigger forecasts 10x."""
    train, _ = split
    bigger = Panel(train.cells, train.times, {KPI: train.kpi(KPI) * 10.0})
    np.testing.assert_allclose(
        fitted.predict_quantiles(bigger), 10.0 * fitted.predict_quantiles(train), rtol=1e-5
    )


def test_per_step_models(split):
    train, _ = split
    model = small_forecaster(per_step=True, max_iter=10, horizon=3).fit(train)
    assert [len(per_quantile) for per_quantile in model.estimators_] == [3, 3]
    out = model.predict_quantiles(train)
    assert out.shape == (2, len(train.cells), 3)
    assert np.isfinite(out).all()


MODELS = [
    lambda: small_forecaster(max_iter=5, max_samples=10_000),
    lambda: SeasonalNaiveForecaster(season="week"),
    lambda: HoltWintersForecaster(history_days=3),
]


@pytest.mark.parametrize("make", MODELS)
def test_estimator_contract(make, split):
    train, _ = split
    model = make()
    with pytest.raises(NotFittedError):
        model.predict(train)
    params = model.get_params()
    assert (params["kpi"], params["horizon"]) == (KPI, 8)
    twin = clone(model).set_params(horizon=4)
    assert (twin.get_params()["horizon"], model.horizon) == (4, 8)
    model.fit(train)
    assert model.predict(train).shape == (len(train.cells), 8)
    assert not [k for k in vars(clone(model)) if k.endswith("_")]
    assert twin.fit(train).predict(train).shape == (len(train.cells), 4)


@pytest.mark.parametrize("make", MODELS)
def test_skops_round_trip(make, split):
    train, _ = split
    model = make().fit(train)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert all(t.split(".")[0] in {"sklearn", "numpy", "rapp"} for t in untrusted), untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert np.array_equal(
        loaded.predict_quantiles(train), model.predict_quantiles(train), equal_nan=True
    )


@pytest.mark.parametrize("make", MODELS)
def test_bad_input_is_explained(make, split):
    train, _ = split
    model = make()
    with pytest.raises(TypeError, match="Panel"):
        model.fit(train.kpi(KPI))
    with pytest.raises(KeyError, match="thp_dl"):
        model.set_params(kpi="thp_dl").fit(train)
    with pytest.raises(ValueError, match="ROPs"):
        model.set_params(kpi=KPI).fit(train.window(0, 5))
    with pytest.raises(ValueError, match="horizon"):
        clone(model).set_params(horizon=0).fit(train)
    model.fit(train)
    hourly = Panel(train.cells, train.times[::4], {KPI: train.kpi(KPI)[:, ::4]})
    with pytest.raises(ValueError, match="ROPs"):
        model.predict(hourly)


@pytest.mark.parametrize("days", [9, 16])  # less, and more, than the two weeks profiles read
def test_features_never_see_the_future(days):
    panel = synthetic_panel(n_cells=5, days=days, missing=0.0)
    X = panel.kpi(KPI)
    origin = (days - 1) * DAY
    cells = np.repeat(np.arange(5), 8)
    origins = np.full(cells.shape, origin)
    steps = np.tile(np.arange(1, 9), 5)
    scale = features.cell_scale(X, cells, origins, DAY)
    before = features.design(X, panel.times, cells, origins, steps, scale)
    changed = X.copy()
    changed[:, origin + 1 :] = 1e6
    after = features.design(changed, panel.times, cells, origins, steps, scale)
    assert np.array_equal(before, after, equal_nan=True)
    assert np.isfinite(before).all()
    # Inference (one origin) and training (many origins) paths agree.
    mixed = np.where(np.arange(len(cells)) % 2 == 0, origin, origin - 1)
    both = features.design(X, panel.times, cells, mixed, steps, scale)
    assert np.allclose(both[::2], before[::2])


def test_profiles_average_past_weeks_and_days_of_the_targets_kind():
    # Workdays at 10, weekend days at 30, one Tuesday at 99: a Saturday is forecast from
    # weekend days only, a Monday from the ten workdays of two weeks (that Tuesday among them),
    # and the week profile reads the same day of past weeks only.
    days = 16
    weekend = ((np.arange(days * DAY) // DAY) % 7 >= 5).astype(float)
    X = (10.0 + 20.0 * weekend)[None, :].copy()
    X[0, 8 * DAY : 9 * DAY] = 99.0  # the second Tuesday
    times = pd.date_range(START, periods=days * DAY, freq="15min")  # the first is Monday
    named = {}
    for name, origin in (("saturday", 12 * DAY + 4 * 12), ("monday", 14 * DAY + 4 * 12)):
        row = features.design(
            X, times, np.array([0]), np.array([origin]), np.array([4]), np.array([1.0])
        )[0]
        named[name] = dict(zip(features.FEATURES, row, strict=True))
    assert named["saturday"]["day_kind_profile"] == pytest.approx(30.0)
    assert named["saturday"]["week_profile"] == pytest.approx(30.0)
    assert named["monday"]["day_kind_profile"] == pytest.approx((10.0 * 9 + 99.0) / 10)
    assert named["monday"]["week_profile"] == pytest.approx(10.0)
    # Today's level matches its past days of the same kind: the guess is the profile.
    assert named["saturday"]["level_vs_day_kind"] == pytest.approx(1.0)
    assert named["saturday"]["expected"] == pytest.approx(30.0)


def test_calendar_features_follow_the_target_time():
    panel = synthetic_panel(n_cells=1, days=2, missing=0.0)
    X = panel.kpi(KPI)
    # Origin is Monday 23:45; 2 steps ahead is Tuesday 00:15.
    origin = int(np.flatnonzero(panel.times == pd.Timestamp("2026-03-02T23:45Z"))[0])
    row = features.design(
        X, panel.times, np.array([0]), np.array([origin]), np.array([2]), np.array([1.0])
    )[0]
    named = dict(zip(features.FEATURES, row, strict=True))
    assert named["step"] == 2
    assert (named["day_of_week"], named["weekend"]) == (1, 0)
    assert named["hour_cos"] == pytest.approx(np.cos(2 * np.pi * 15 / 1440), abs=1e-6)


def test_seasonal_naive_repeats_the_season_and_falls_back():
    days = 9
    profile = np.tile(np.arange(DAY, dtype=float) + 1, days)  # exactly periodic: no error
    X = np.vstack([profile, 10 * profile, np.full(profile.shape, np.nan)])
    X[1, -DAY] = np.nan  # a day before the first target: two days before is used instead
    times = pd.date_range(START, periods=days * DAY, freq="15min")
    periodic = Panel(pd.Index(["a", "b", "c"]), times, {KPI: X})
    model = SeasonalNaiveForecaster(horizon=4).fit(periodic)
    assert np.array_equal(model.residual_quantiles_, np.zeros((2, 4)))
    out = model.predict_quantiles(periodic)
    expected = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    assert np.array_equal(out[:, :2], np.stack([expected, expected]))
    assert np.isnan(out[:, 2]).all()


def test_holt_winters_tracks_a_seasonal_level_shift():
    """After a step change in level, HW's forecast follows it; the seasonal shape is kept."""
    days = 8
    t = np.arange(days * DAY)
    shape = 10 + 5 * np.sin(2 * np.pi * t / DAY)
    X = np.vstack([shape, 3 * shape, shape + np.where(t >= (days - 1) * DAY, 20.0, 0.0)])
    X[1, 100:110] = np.nan
    times = pd.date_range(START, periods=len(t), freq="15min")
    panel = Panel(pd.Index(["a", "b", "c"]), times, {KPI: X})
    model = HoltWintersForecaster(horizon=4, history_days=7).fit(panel)
    assert (model.alpha_, model.beta_, model.gamma_) in {
        (a, b, g) for a in model.alphas for b in model.betas for g in model.gammas
    }
    truth = np.vstack([shape[:4], 3 * shape[:4], shape[:4] + 20])  # the next day starts over
    p50 = model.predict(panel)
    np.testing.assert_allclose(p50[:2], truth[:2], rtol=0.05)
    assert np.abs(p50[2] - truth[2]).max() < 5.0  # the shift of 20 is mostly tracked


def test_metrics_from_known_forecasts():
    times = pd.DatetimeIndex([pd.Timestamp("2026-03-02T17:00Z")])
    actuals = np.array([[[10.0, 20.0]], [[30.0, np.nan]]]).reshape(2, 1, 2)
    p50 = np.array([[12.0, 18.0], [27.0, 5.0]])
    p90 = np.array([[15.0, 19.0], [35.0, 9.0]])
    result = BacktestResult(
        kpi=KPI,
        step=pd.Timedelta(hours=1),
        quantiles=(0.5, 0.9),
        cells=pd.Index(["a"]),
        origins=times.append(times + pd.Timedelta(hours=1)),
        predictions=np.stack([p50, p90], axis=1)[:, :, None, :],
        actuals=actuals,
        busy_hour=np.array([18]),
    )
    assert float(result.wape()) == pytest.approx((2 + 2 + 3) / 60)
    smape = (2 * 2 / 22 + 2 * 2 / 38 + 2 * 3 / 57) / 3
    assert float(result.smape()) == pytest.approx(smape)
    assert result.coverage(0.9) == pytest.approx(2 / 3)
    assert result.wape_at("2h") == pytest.approx(2 / 20)
    # Only the first origin's first step lands in the busy hour (18:00).
    assert float(result.wape(result.at_busy_hour())) == pytest.approx(2 / 10)
    assert result.interval_width() == pytest.approx((3 + 1 + 8) / 3 / 20)
    card = result.to_dict()
    assert card["wape_by_step"] == [pytest.approx(5 / 40), pytest.approx(2 / 20)]
    assert card["coverage_p90"] == pytest.approx(2 / 3)
    series = result.series("a", step=1)
    assert list(series.columns) == ["actual", "p50", "p90"]
    assert series.index[0] == pd.Timestamp("2026-03-02T18:00Z")


def test_busy_hour_and_error_by_hour(split, fitted):
    train, test = split
    X = train.kpi(KPI)
    hours = np.asarray(train.times.hour)
    expected = np.nanargmax(
        np.stack([np.nanmean(X[:, hours == h], axis=1) for h in range(24)], axis=1), axis=1
    )
    assert np.array_equal(busy_hours(train, KPI), expected)
    result = evaluate(fitted, train, test, every=8)  # 8 steps of 15 min: every hour
    by_hour = result.error_by_hour()
    assert list(by_hour.index) == list(range(24))
    assert by_hour["wape"].notna().all()


def test_backtest_without_contiguous_training_history(split, fitted):
    _, test = split
    result = backtest(fitted, test, start=2 * DAY, every=24, horizon=4)
    assert result.horizon == 4
    assert result.origins[0] == test.times[2 * DAY]
    assert np.isfinite(result.wape_at("1h"))
    with pytest.raises(ValueError, match="horizon"):
        backtest(fitted, test, horizon=9)
    with pytest.raises(ValueError, match="origins"):
        backtest(fitted, test, origins=[len(test.times) - 2])


def test_each_model_says_how_much_history_it_reads(split, fitted):
    train, _ = split
    day, week = 96, 672
    assert fitted.context_rops() == 2 * week + 1  # the two weeks its profiles average
    hw = HoltWintersForecaster(history_days=10, band_origins=50).fit(train)
    assert hw.context_rops() == 10 * day
    weekly = SeasonalNaiveForecaster(season="week", lookback=2, band_origins=50).fit(train)
    assert weekly.context_rops() == 2 * week + 1
    with pytest.raises(NotFittedError):
        Forecaster().context_rops()
