"""The loop's anomaly watch: the registry's detector over the last ROPs, as incidents."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from rapp.anomalies import AnomalyWatch
from rapp.domain import Alarm, Severity
from rapp.ml import Detector, Panel
from rapp.ml.incidents import IncidentKind
from rapp.ml.live import LiveModel
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.registry import Registry
from simulators.o1.dataset import simulate

DAY = 96


@pytest.fixture(scope="module")
def network() -> pd.DataFrame:
    """Three clean weeks of 24 cells, indexed like ``derive_kpis`` output."""
    data = simulate(24, start="2026-01-05", days=21, seed=5)
    return data.kpis.set_index(["cell", "period_end"]).sort_index()


@pytest.fixture(scope="module")
def registry(network: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("models"))
    two_weeks = Panel.from_frame(network).window(0, 14 * DAY)
    card = registry.save(Detector(random_state=0).fit(two_weeks), name="detector", kind="detector")
    registry.promote("detector", card.version)
    return registry


def feed(watch: AnomalyWatch, network: pd.DataFrame, ends: pd.DatetimeIndex) -> None:
    for end in ends:  # one ROP at a time, as the loop ingests
        watch.ingest(network.xs(end, level="period_end", drop_level=False), 900)


def last_rops(network: pd.DataFrame, n: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(network.index.get_level_values("period_end").unique()).sort_values()[
        -n:
    ]


def test_a_cell_that_goes_silent_is_a_sleeping_cell_unless_an_alarm_explains_it(
    network: pd.DataFrame, registry: Registry
):
    watch = AnomalyWatch(LiveModel(registry, "detector", check_every=0.0))
    ends = last_rops(network, 8)
    silent, cell = silenced(network, ends)  # every KPI collapses for the last four ROPs
    feed(watch, silent, ends)
    [incident] = watch.check(ends[-1], [])
    assert (incident.cell, incident.kind) == (cell, IncidentKind.SLEEPING_CELL)
    assert incident.needs_healing
    assert incident.end == ends[-1]
    assert incident.start >= ends[-4] - pd.Timedelta(minutes=15)
    assert watch.status()["open_incidents"] == 1

    alarm = Alarm(
        alarm_id="ru/28",
        source="gnb",
        object_dn=cell,
        condition="28",
        severity=Severity.CRITICAL,
        event_time=(ends[-5] + timedelta(minutes=1)).to_pydatetime(),
        text="CUS Link Failure",
    )
    [explained] = watch.check(ends[-1], [alarm])
    assert explained.alarm_ids == ("ru/28",)
    assert explained.kind is IncidentKind.FRONTHAUL_FAULT  # one incident, of the alarm's kind


def test_normal_traffic_opens_no_incident_and_no_detector_scores_nothing(
    network: pd.DataFrame, registry: Registry, tmp_path: Path
):
    ends = last_rops(network, 8)
    watch = AnomalyWatch(LiveModel(registry, "detector", check_every=0.0))
    feed(watch, network, ends)
    assert watch.check(ends[-1], []) == []

    empty = AnomalyWatch(LiveModel(Registry(tmp_path), "detector", check_every=0.0))
    feed(empty, network, ends)
    assert empty.check(ends[-1], []) == []
    assert empty.status()["champion"] is None


def test_a_champion_that_is_not_a_detector_is_reported_not_raised(
    network: pd.DataFrame, tmp_path: Path
):
    registry = Registry(tmp_path)
    panel = Panel.from_frame(network, kpis=["prb_util_dl"])
    card = registry.save(
        SeasonalNaiveForecaster(horizon=4, band_origins=20).fit(panel),
        name="detector",
        kind="detector",
    )
    registry.promote("detector", card.version)
    watch = AnomalyWatch(LiveModel(registry, "detector", check_every=0.0))
    ends = last_rops(network, 8)
    feed(watch, network, ends)
    assert watch.check(ends[-1], []) == []
    assert "detector v1 not run: AttributeError" in watch.status()["error"]


def silenced(network: pd.DataFrame, ends: pd.DatetimeIndex) -> tuple[pd.DataFrame, str]:
    """``network`` with its first cell serving nobody for the last four ROPs."""
    cell = network.index.get_level_values("cell")[0]
    silent = network.copy()
    hit = (silent.index.get_level_values("cell") == cell) & (
        silent.index.get_level_values("period_end") >= ends[-4]
    )
    silent.loc[hit, [c for c in silent.columns if c != "suspect"]] = 0.0
    return silent, cell


def test_a_shadow_detector_is_scored_on_the_same_rops_and_never_replaces_the_champion(
    network: pd.DataFrame, registry: Registry, tmp_path: Path
):
    ends = last_rops(network, 8)
    silent, cell = silenced(network, ends)
    two_weeks = Panel.from_frame(network).window(0, 14 * DAY)
    blind = registry.save(
        Detector(z_threshold=1e6, forest_threshold=1e6, random_state=0).fit(two_weeks),
        name="detector",
        kind="detector",
    )
    watch = AnomalyWatch(LiveModel(registry, "detector", shadow=blind.version, check_every=0.0))
    feed(watch, silent, ends)
    [incident] = watch.check(ends[-1], [])
    assert incident.cell == cell
    assert watch.shadow_incidents == []  # the blind challenger sees nothing
    status = watch.status()
    assert (status["champion"], status["shadow"]) == ("v1", blind.version)
    assert (status["open_incidents"], status["shadow_open_incidents"]) == (1, 0)

    # A challenger that cannot score is a warning of its own; the champion goes on.
    broken = registry.save(
        SeasonalNaiveForecaster(horizon=4, band_origins=20).fit(
            Panel.from_frame(network, kpis=["prb_util_dl"])
        ),
        name="detector",
        kind="detector",
    )
    watch = AnomalyWatch(LiveModel(registry, "detector", shadow=broken.version, check_every=0.0))
    feed(watch, silent, ends)
    assert [i.cell for i in watch.check(ends[-1], [])] == [cell]
    assert watch.status()["error"] is None
    assert f"shadow detector {broken.version} not run" in watch.status()["shadow_error"]


def test_a_long_outage_is_one_incident_from_its_onset_while_the_window_slides(
    network: pd.DataFrame, registry: Registry
):
    """The watch scores only its last eight ROPs; an outage that outlasts them keeps the start
    it had, so it is logged, listed and healed as one incident, not a new one every ROP."""
    ends = last_rops(network, 24)
    cell = network.index.get_level_values("cell")[0]
    silent = network.copy()
    hit = (silent.index.get_level_values("cell") == cell) & (
        silent.index.get_level_values("period_end") >= ends[4]
    )
    silent.loc[hit, [c for c in silent.columns if c != "suspect"]] = 0.0  # 20 ROPs asleep
    watch = AnomalyWatch(LiveModel(registry, "detector", check_every=0.0))
    starts = set()
    for end in ends:
        feed(watch, silent, pd.DatetimeIndex([end]))
        starts |= {i.start for i in watch.check(end, []) if i.cell == cell}
    [start] = starts
    assert ends[4] <= start <= ends[6]
    [incident] = watch.incidents
    assert incident.end == ends[-1]
    assert incident.end - incident.start > 8 * pd.Timedelta(minutes=15)  # longer than the window
