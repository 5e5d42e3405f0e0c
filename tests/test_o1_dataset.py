"""The labelled dataset simulator: realistic normal traffic, anomalies that show in the KPIs the
way their kind says, artefacts that stay artefacts, and wire exports that the rApp's own codecs
decode back into the exported KPI frame."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rapp.domain import PmBatch, Severity
from rapp.ml.panel import Panel, read_frame
from rapp.telemetry.kpi import KPIS, derive_kpis
from rapp.telemetry.pmxml import decode_pm_xml
from rapp.telemetry.ranpm import decode_batch
from rapp.telemetry.sniff import decode_any
from rapp.telemetry.ves import decode_ves, validate_ves
from simulators.o1.anomalies import DURATIONS, KINDS, AnomalySpec, ArtefactSpec
from simulators.o1.dataset import Dataset, main, simulate
from simulators.o1.traffic import ARCHETYPES

COLUMNS = ["cell", "period_end", *KPIS, "suspect"]
STEP = pd.Timedelta(minutes=15)


@pytest.fixture(scope="module")
def labelled() -> Dataset:
    """40 cells x 3 weeks, every anomaly kind and artefacts."""
    return simulate(40, days=21, seed=11, anomalies=36, artefacts=0.003)


@pytest.fixture(scope="module")
def clean() -> Dataset:
    """The same network and seed, with neither anomalies nor artefacts."""
    return simulate(40, days=21, seed=11)


def _matrix(data: Dataset, kpi: str) -> np.ndarray:
    """(cells, ROPs) of one KPI, NaN where missing or suspect."""
    return Panel.from_frame(data.kpis, kpis=[kpi], step=STEP).kpi(kpi)


def _one_archetype(archetype: str, days: int = 14, **kwargs: object) -> Dataset:
    return simulate(20, days=days, seed=3, archetypes=[archetype], **kwargs)


def _by_hour(data: Dataset, kpi: str = "prb_util_dl") -> pd.DataFrame:
    frame = data.kpis.assign(
        hour=data.kpis["period_end"].dt.hour,
        weekday=data.kpis["period_end"].dt.day_of_week,
        date=data.kpis["period_end"].dt.date,
    )
    return frame[["cell", "hour", "weekday", "date", kpi]]


# --------------------------------------------------------------------------------------------
# the contract and reproducibility


def test_kpi_frame_is_the_shared_contract(labelled: Dataset) -> None:
    kpis = labelled.kpis
    assert list(kpis.columns) == COLUMNS
    assert str(kpis["period_end"].dtype) == "datetime64[ns, UTC]"
    assert kpis["suspect"].dtype == bool
    keys = kpis[["cell", "period_end"]]
    assert not keys.duplicated().any()
    assert keys.equals(keys.sort_values(["cell", "period_end"]).reset_index(drop=True))
    assert kpis.loc[kpis["suspect"], list(KPIS)].isna().all().all()
    assert kpis.loc[~kpis["suspect"], list(KPIS)].notna().all().all()
    panel = Panel.from_frame(kpis)
    assert panel.values["prb_util_dl"].shape == (40, 21 * 96)
    assert panel.step == STEP
    assert panel.times[0] == pd.Timestamp("2026-01-05 00:15", tz="UTC")


def test_event_and_artefact_frames_are_the_shared_contract(labelled: Dataset) -> None:
    events, arts = labelled.events, labelled.artefacts
    assert list(events.columns) == ["event_id", "cell", "kind", "start", "end", "alarm_id"]
    assert list(arts.columns) == ["cell", "period_end", "artefact"]
    assert events["event_id"].tolist() == list(range(1, 37))
    assert set(events["kind"]) == set(KINDS)
    assert events["kind"].value_counts().eq(6).all()  # the kinds take turns
    assert set(arts["artefact"]) == {"missing_rop", "suspect", "counter_reset"}
    cells = set(labelled.kpis["cell"])
    assert set(events["cell"]) <= cells
    assert set(arts["cell"]) <= cells
    alarmed = events["kind"].isin(["hardware_fault", "fronthaul_fault"])
    assert (events.loc[alarmed, "alarm_id"] != "").all()
    assert (events.loc[~alarmed, "alarm_id"] == "").all()


def test_same_arguments_same_frames_other_seed_other_network(labelled: Dataset) -> None:
    again = simulate(40, days=21, seed=11, anomalies=36, artefacts=0.003)
    pd.testing.assert_frame_equal(again.kpis, labelled.kpis)
    pd.testing.assert_frame_equal(again.events, labelled.events)
    pd.testing.assert_frame_equal(again.artefacts, labelled.artefacts)
    assert again.alarms == labelled.alarms
    other = simulate(40, days=21, seed=12, anomalies=36, artefacts=0.003)
    assert not other.cells()["archetype"].equals(labelled.cells()["archetype"]) or not np.allclose(
        other.cells()["peak_to_trough"], labelled.cells()["peak_to_trough"]
    )
    assert not np.allclose(
        other.kpis["energy_kwh"].iloc[:500], labelled.kpis["energy_kwh"].iloc[:500]
    )
    assert not other.events[["cell", "start"]].equals(labelled.events[["cell", "start"]])


def test_anomalies_leave_normal_traffic_untouched_elsewhere(
    labelled: Dataset, clean: Dataset
) -> None:
    covered = np.zeros((40, 21 * 96), dtype=bool)
    pos = {c: i for i, c in enumerate(sorted(set(clean.kpis["cell"])))}
    times = Panel.from_frame(clean.kpis, kpis=["energy_kwh"]).times
    for row in labelled.events.itertuples():
        covered[pos[row.cell], times.get_loc(row.start) : times.get_loc(row.end) + 1] = True
    for kpi in KPIS:
        base, hit = _matrix(clean, kpi), _matrix(labelled, kpi)
        both = ~covered & ~np.isnan(hit)
        reset = _artefact_mask(labelled, "counter_reset", pos, times)
        np.testing.assert_array_equal(hit[both & ~reset], base[both & ~reset])


# --------------------------------------------------------------------------------------------
# normal traffic


def test_office_is_quiet_at_weekends_and_busy_at_midday() -> None:
    hours = _by_hour(_one_archetype("office"))
    weekday = hours[hours["weekday"] < 5].groupby("hour")["prb_util_dl"].mean()
    weekend = hours[hours["weekday"] >= 5]["prb_util_dl"].mean()
    assert weekday.loc[10:15].mean() > 2.5 * weekend
    assert weekday.loc[10:15].mean() > 2.5 * weekday.loc[1:4].mean()


def test_entertainment_peaks_on_friday_and_saturday_nights() -> None:
    hours = _by_hour(_one_archetype("entertainment", days=21))
    late = hours[hours["hour"].isin([21, 22, 23])]
    fri_sat = late[late["weekday"].isin([4, 5])]["prb_util_dl"].mean()
    mon_wed = late[late["weekday"].isin([0, 1, 2])]["prb_util_dl"].mean()
    assert fri_sat > 1.4 * mon_wed


def test_transport_hub_has_commuter_peaks_on_weekdays_only() -> None:
    hours = _by_hour(_one_archetype("transport_hub"))
    weekday = hours[hours["weekday"] < 5].groupby("hour")["prb_util_dl"].mean()
    weekend = hours[hours["weekday"] >= 5].groupby("hour")["prb_util_dl"].mean()
    rush = weekday.loc[[7, 8, 17, 18]].mean()
    assert rush > 1.4 * weekday.loc[11:14].mean()
    assert weekend.max() / weekend.loc[10:20].min() < weekday.max() / weekday.loc[10:20].min()


def test_residential_peaks_in_the_evening() -> None:
    hours = _by_hour(_one_archetype("residential")).groupby("hour")["prb_util_dl"].mean()
    assert hours.loc[19:22].mean() > 1.5 * hours.loc[7:10].mean()
    assert hours.loc[19:22].mean() > 3.0 * hours.loc[3:5].mean()


def test_a_holiday_looks_like_a_sunday() -> None:
    holiday = pd.Timestamp("2026-01-14")  # a Wednesday
    plain = _by_hour(_one_archetype("office"))
    off = _by_hour(_one_archetype("office", holidays=[holiday]))
    on_day = off[off["date"] == holiday.date()]["prb_util_dl"].mean()
    normal_day = plain[plain["date"] == holiday.date()]["prb_util_dl"].mean()
    sunday = plain[plain["date"] == pd.Timestamp("2026-01-11").date()]["prb_util_dl"].mean()
    assert on_day < 0.6 * normal_day
    assert on_day == pytest.approx(sunday, rel=0.25)
    # days apart from it are untouched (the hour either side of midnight blends two days)
    other = (pd.to_datetime(off["date"]) - holiday).abs() > pd.Timedelta(days=1)
    assert off.loc[other, "prb_util_dl"].equals(plain.loc[other, "prb_util_dl"])


def test_mixed_archetypes_and_ratios_vary_per_cell(clean: Dataset) -> None:
    cells = clean.cells()
    assert set(cells["archetype"]) <= set(ARCHETYPES)
    assert cells["peak_to_trough"].between(3.0, 15.0).all()
    assert cells["peak_to_trough"].std() > 1.0
    # the realised busy-hour over quiet-hour ratio of light cells follows the drawn one
    util = _matrix(clean, "prb_util_dl")
    per_day = util.reshape(40, 21, 96)
    ratio = np.nanpercentile(per_day.max(axis=2), 50, axis=1) / np.nanpercentile(
        per_day.min(axis=2), 50, axis=1
    )
    light = cells["peak_load"].to_numpy() < 0.5
    assert np.corrcoef(np.log(ratio[light]), np.log(cells["peak_to_trough"][light]))[0, 1] > 0.5


def test_trend_follows_each_cells_growth(clean: Dataset) -> None:
    util = _matrix(clean, "active_ue_dl")  # proportional to demand, no saturation
    weekly = np.nanmean(util.reshape(40, 3, 7 * 96), axis=2)
    growth = weekly[:, 2] / weekly[:, 0]
    drawn = clean.cells()["growth_per_week"].to_numpy()
    assert np.corrcoef(growth, drawn)[0, 1] > 0.6


def test_radio_physics(clean: Dataset) -> None:
    k = clean.kpis
    assert k["prb_util_dl"].between(0, 100).all()
    assert k["prb_util_ul"].between(0, 100).all()
    assert (k["rrc_conn_max"] >= k["rrc_conn_mean"]).all()
    per_cell = k.groupby("cell")
    thp_vs_load = per_cell[["prb_util_dl", "thp_dl"]].corr(method="spearman").xs("thp_dl", level=1)
    assert (thp_vs_load["prb_util_dl"] < -0.3).mean() > 0.9  # per-UE throughput falls as it fills
    energy_vs_load = per_cell[["prb_util_dl", "energy_kwh"]].corr().xs("energy_kwh", level=1)
    assert (energy_vs_load["prb_util_dl"] > 0.99).all()  # idle power + a load-dependent part
    assert (per_cell["energy_kwh"].min() > 0.15).all()
    ue_vs_load = per_cell[["prb_util_dl", "active_ue_dl"]].corr(method="spearman")
    assert (ue_vs_load.xs("active_ue_dl", level=1)["prb_util_dl"] > 0.9).all()


# --------------------------------------------------------------------------------------------
# anomalies


def _ratios(labelled: Dataset, clean: Dataset, kind: str, kpi: str) -> np.ndarray:
    """Mean KPI over each event of ``kind``, anomalous run over clean run."""
    base, hit = _matrix(clean, kpi), _matrix(labelled, kpi)
    times = Panel.from_frame(clean.kpis, kpis=["energy_kwh"]).times
    pos = {c: i for i, c in enumerate(sorted(set(clean.kpis["cell"])))}
    out = []
    for row in labelled.events[labelled.events["kind"] == kind].itertuples():
        span = slice(times.get_loc(row.start), times.get_loc(row.end) + 1)
        out.append(np.nanmean(hit[pos[row.cell], span]) / np.nanmean(base[pos[row.cell], span]))
    return np.array(out)


def _event_values(data: Dataset, kind: str, kpi: str) -> np.ndarray:
    k = data.kpis
    values = []
    for row in data.events[data.events["kind"] == kind].itertuples():
        inside = (k["cell"] == row.cell) & k["period_end"].between(row.start, row.end)
        values.append(k.loc[inside, kpi].mean())
    return np.array(values)


def test_sleeping_cell_collapses_without_alarm(labelled: Dataset, clean: Dataset) -> None:
    assert (_event_values(labelled, "sleeping_cell", "prb_util_dl") < 1.0).all()
    assert (_event_values(labelled, "sleeping_cell", "active_ue_dl") < 0.5).all()
    assert (_ratios(labelled, clean, "sleeping_cell", "rrc_conn_mean") < 0.02).all()
    assert (_event_values(labelled, "sleeping_cell", "energy_kwh") > 0.15).all()  # still on
    sleeping = labelled.events[labelled.events["kind"] == "sleeping_cell"]
    assert not {a.object_dn for a in labelled.alarms} & set(sleeping["cell"])


@pytest.mark.parametrize("kind", ["hardware_fault", "fronthaul_fault"])
def test_faults_drop_kpis_and_raise_then_clear_an_alarm(
    labelled: Dataset, clean: Dataset, kind: str
) -> None:
    assert (_ratios(labelled, clean, kind, "prb_util_dl") < 0.7).all()
    # less load lifts per-UE throughput, the fault cuts it more: lower all the same
    thp = _ratios(labelled, clean, kind, "thp_dl")
    assert (thp < 0.9).all()
    assert np.median(thp) < 0.7
    for row in labelled.events[labelled.events["kind"] == kind].itertuples():
        mine = [a for a in labelled.alarms if a.alarm_id == row.alarm_id]
        assert [a.cleared for a in mine] == [False, True]
        raised, cleared = (pd.Timestamp(a.event_time) for a in mine)
        assert row.start - STEP <= raised < row.start
        assert row.end - STEP < cleared <= row.end
        assert mine[0].object_dn == row.cell
        assert mine[0].severity in (Severity.MAJOR, Severity.CRITICAL)


def test_congestion_surge_pins_prbs_and_squeezes_throughput(
    labelled: Dataset, clean: Dataset
) -> None:
    assert (_event_values(labelled, "congestion_surge", "prb_util_dl") > 95.0).all()
    assert (_ratios(labelled, clean, "congestion_surge", "thp_dl") < 0.8).all()
    assert (_ratios(labelled, clean, "congestion_surge", "active_ue_dl") > 1.8).all()


def test_kpi_degradation_cuts_throughput_at_the_same_load(
    labelled: Dataset, clean: Dataset
) -> None:
    assert (_ratios(labelled, clean, "kpi_degradation", "thp_dl") < 0.6).all()
    np.testing.assert_allclose(_ratios(labelled, clean, "kpi_degradation", "prb_util_dl"), 1.0)
    np.testing.assert_allclose(_ratios(labelled, clean, "kpi_degradation", "active_ue_dl"), 1.0)


def test_interference_raises_ul_prbs_and_cuts_ul_throughput(
    labelled: Dataset, clean: Dataset
) -> None:
    assert (_ratios(labelled, clean, "interference", "prb_util_ul") > 1.4).all()
    assert (_ratios(labelled, clean, "interference", "thp_ul") < 0.6).all()
    np.testing.assert_allclose(_ratios(labelled, clean, "interference", "prb_util_dl"), 1.0)


def test_events_respect_spec_and_never_overlap_on_a_cell(labelled: Dataset) -> None:
    events = labelled.events
    rops = (events["end"] - events["start"]) / STEP + 1
    for kind, (low, high) in DURATIONS.items():
        mine = rops[events["kind"] == kind]
        assert mine.between(low, high).all()
    for _, group in events.sort_values("start").groupby("cell"):
        assert (group["start"].iloc[1:].to_numpy() > group["end"].iloc[:-1].to_numpy()).all()
    late = simulate(8, days=3, seed=2, anomalies=AnomalySpec(8, not_before=pd.Timedelta("1D")))
    assert (late.events["start"] > pd.Timestamp("2026-01-06", tz="UTC")).all()
    only = simulate(8, days=2, seed=2, anomalies=AnomalySpec(4, kinds=("interference",)))
    assert set(only.events["kind"]) == {"interference"}


# --------------------------------------------------------------------------------------------
# artefacts


def _artefact_mask(
    data: Dataset, kind: str, pos: dict[str, int], times: pd.DatetimeIndex
) -> np.ndarray:
    mask = np.zeros((len(pos), len(times)), dtype=bool)
    rows = data.artefacts[data.artefacts["artefact"] == kind]
    mask[rows["cell"].map(pos).to_numpy(), times.get_indexer(rows["period_end"])] = True
    return mask


def test_artefacts_show_as_described_and_never_touch_an_event(
    labelled: Dataset, clean: Dataset
) -> None:
    arts, kpis = labelled.artefacts, labelled.kpis.set_index(["cell", "period_end"])
    rows = 40 * 21 * 96
    for kind, count in arts["artefact"].value_counts().items():
        assert 0.3 * 0.003 * rows < count < 3 * 0.003 * rows, kind
    missing = arts[arts["artefact"] == "missing_rop"].set_index(["cell", "period_end"]).index
    assert not missing.isin(kpis.index).any()
    assert len(kpis) == rows - len(missing)
    suspect = arts[arts["artefact"] == "suspect"].set_index(["cell", "period_end"]).index
    assert kpis.loc[suspect, "suspect"].all()
    assert kpis["suspect"].sum() == len(suspect)
    reset = arts[arts["artefact"] == "counter_reset"].set_index(["cell", "period_end"]).index
    base = clean.kpis.set_index(["cell", "period_end"])
    drop = kpis.loc[reset, "energy_kwh"] / base.loc[reset, "energy_kwh"]
    assert (drop <= 0.4 + 1e-3).all()  # zeros or a sharp one-ROP drop
    assert (drop == 0).any()
    assert (drop > 0).any()
    for row in labelled.events.itertuples():
        near = (arts["cell"] == row.cell) & arts["period_end"].between(
            row.start - STEP, row.end + STEP
        )
        assert not near.any()


# --------------------------------------------------------------------------------------------
# exports


@pytest.fixture(scope="module")
def small() -> Dataset:
    return simulate(12, days=1, seed=5, anomalies=6, artefacts=0.02)


def test_ranpm_and_xml_decode_back_to_the_kpi_frame(small: Dataset, tmp_path: Path) -> None:
    written = small.write_wire(tmp_path)
    assert written == {"ranpm": 96, "xml": 96, "ves": len(small.alarms)}
    expected = small.kpis[COLUMNS]

    files = sorted((tmp_path / "ranpm").glob("*.jsonl"))
    records = [line for f in files for line in f.read_bytes().splitlines()]
    assert len(records) == 96 * 3 - _lost_gnb_rops(small)
    batch, failures = decode_batch(records)
    assert failures == []
    got = derive_kpis(batch).reset_index()[COLUMNS]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    single = decode_any(records[0]).pm.frame
    assert single["cell"].str.startswith("SubNetwork=site-01,ManagedElement=gnb-0001,").all()

    xml = sorted((tmp_path / "pm-xml").glob("A*.xml"))
    assert xml[0].name == "A20260105.0000+0000-0015+0000_rapp-o1-sim.xml"
    batch = PmBatch.concat(decode_pm_xml(f) for f in xml)
    got = derive_kpis(batch).reset_index()[COLUMNS]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert decode_any(xml[5].read_bytes()).pm.frame["period_end"].nunique() == 1


def _lost_gnb_rops(data: Dataset) -> int:
    """ROPs in which every cell of a gNB was missing: no report at all for it."""
    present = data.cube.present.reshape(96, 3, 4)
    return int((~present.any(axis=2)).sum())


def test_ves_faults_validate_and_decode_to_the_alarms(small: Dataset, tmp_path: Path) -> None:
    assert small.alarms, "the small dataset must have an alarmed fault"
    small.write_wire(tmp_path, ["ves"])
    lines = (tmp_path / "ves" / "faults.jsonl").read_text().splitlines()
    assert len(lines) == len(small.alarms)
    decoded = []
    for line in lines:
        validate_ves(json.loads(line))
        decoded.extend(decode_ves(line.encode()).alarms)
    assert decoded == small.alarms
    by_id = small.events.set_index("alarm_id")
    for alarm in decoded:
        assert alarm.object_dn == by_id.loc[alarm.alarm_id, "cell"]


def test_parquet_and_csv_round_trip(small: Dataset, tmp_path: Path) -> None:
    small.to_parquet(tmp_path / "pq")
    small.to_csv(tmp_path / "csv")
    for sub, suffix in (("pq", ".parquet"), ("csv", ".csv")):
        kpis = read_frame(tmp_path / sub / f"kpis{suffix}")
        pd.testing.assert_frame_equal(kpis, small.kpis, check_dtype=False, atol=1e-9)
        events = read_frame(tmp_path / sub / f"events{suffix}")
        for column in ("start", "end"):
            events[column] = pd.to_datetime(events[column], utc=True)
        events["alarm_id"] = events["alarm_id"].fillna("")
        pd.testing.assert_frame_equal(events, small.events, check_dtype=False)
        arts = read_frame(tmp_path / sub / f"artefacts{suffix}")
        pd.testing.assert_frame_equal(arts, small.artefacts, check_dtype=False)
    lines = (tmp_path / "pq" / "alarms.jsonl").read_text().splitlines()
    assert len(lines) == len(small.alarms)
    counters = small.counters()
    assert len(counters) == len(small.kpis)
    assert (counters["RRU.PrbAvailDl"] > 0).all()


def test_command_writes_every_format(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "ds"
    with caplog.at_level(logging.INFO, logger="simulators.o1.dataset"):
        size = ["--cells", "8", "--days", "1", "--seed", "7", "--anomalies", "3"]
        main([*size, "--format", "all", "--out", str(out)])
    for name in ("kpis.parquet", "events.csv", "alarms.jsonl", "summary.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "ranpm").glob("*.jsonl"))) == 96
    assert len(list((out / "pm-xml").glob("*.xml"))) == 96
    assert (out / "ves" / "faults.jsonl").is_file()
    assert "8 cells x 96 ROPs" in caplog.records[-1].getMessage()
    assert "3 events" in json.loads((out / "summary.json").read_text())["summary"]


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="positive"):
        simulate(0)
    with pytest.raises(ValueError, match="unknown anomaly kinds"):
        AnomalySpec(3, kinds=("meteor",))
    with pytest.raises(ValueError, match="cannot fit"):
        simulate(2, days=0.5, anomalies=AnomalySpec(6, kinds=("sleeping_cell",)))
    with pytest.raises(ValueError, match="unknown archetypes"):
        simulate(4, days=1, archetypes=["stadium"])
    with pytest.raises(ValueError, match="artefact rate"):
        ArtefactSpec(missing_rop=0.7)
    with pytest.raises(ValueError, match="divide a day"):
        simulate(4, days=1, step="7min")
