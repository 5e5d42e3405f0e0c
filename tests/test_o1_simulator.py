"""O1 simulator: topology, load model guarantees the demo relies on, reports, and the publisher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer

from rapp.domain import PRB_UTIL_DL
from rapp.telemetry import decode_batch, derive_kpis
from simulators.broker import Broker
from simulators.o1 import Network, encode_reports, rop_reports
from simulators.o1.__main__ import parse_duration, run
from simulators.o1.history import history, sleep_events

DAYS = pd.date_range("2025-01-06", periods=2 * 96, freq="15min", tz="UTC")


@pytest.fixture(scope="module")
def network() -> Network:
    return Network()


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


def _site(network: Network, util: np.ndarray, site: str) -> np.ndarray:
    return util[:, network.cell_site == site]


def test_topology(network: Network) -> None:
    assert len(network.gnbs) == 50
    assert len(network.sites) == 10
    assert (
        network.cell_ids[0]
        == "SubNetwork=site-01,ManagedElement=gnb-0001,GNBDUFunction=1,NRCellDU=1"
    )
    assert network.cell_ids[-1].endswith("ManagedElement=gnb-0050,GNBDUFunction=1,NRCellDU=4")
    assert network.reporting_entity_dn("gnb-0031") == "SubNetwork=site-07,ManagedElement=gnb-0031"


def test_stadium_hot_quiet_sites_and_crossers(network: Network) -> None:
    util = network.prb_util_dl(DAYS)
    assert util.shape == (len(DAYS), 200)
    assert util.min() >= 0
    assert util.max() <= 100
    assert _site(network, util, "site-07").min() > 85
    site_mean = {s: _site(network, util, s).mean(axis=1) for s in network.sites}
    quiet = [s for s, m in site_mean.items() if m.max() < 25]
    assert quiet, "a scale-in candidate must exist"
    crossers = [s for s, m in site_mean.items() if m.max() > 85 and m.min() < 25]
    assert len(crossers) >= 3
    # whatever hour the demo starts, some site crosses a threshold within 4 hours
    hours = np.stack(list(site_mean.values()), axis=1)  # (times, sites)
    above, below = hours > 85, hours < 25
    changes = (np.diff(above, axis=0) | np.diff(below, axis=0)).any(axis=1)
    for start in range(96):
        assert changes[start : start + 16].any(), f"no crossing after {DAYS[start]}"


def test_reproducible_per_seed(network: Network) -> None:
    a = network.prb_util_dl(DAYS)
    assert np.array_equal(a, Network(seed=1).prb_util_dl(DAYS))
    assert not np.array_equal(a, Network(seed=2).prb_util_dl(DAYS))
    # a ROP asked for alone equals the same ROP inside a longer range (backfill == live)
    assert np.array_equal(a[7], network.prb_util_dl(DAYS[7:8])[0])


def test_reports_decode_to_every_cell(network: Network) -> None:
    end = DAYS[50]
    records = rop_reports(network, end)
    assert len(records) == 50
    assert records[0][0] == b"gnb-0001"
    batch, failures = decode_batch([v for _, v in records])
    assert failures == []
    frame = batch.frame
    assert set(frame["cell"]) == set(network.cell_ids)
    assert set(frame["period_end"]) == {end}
    assert set(frame["counter"]) == {
        "RRU.PrbUsedDl",
        "RRU.PrbAvailDl",
        "RRU.PrbUsedUl",
        "RRU.PrbAvailUl",
        "DRB.UEThpDl",
        "RRC.ConnMean",
    }
    kpi = derive_kpis(batch)[PRB_UTIL_DL]
    expected = pd.Series(network.prb_util_dl(DAYS[50:51])[0], index=network.cell_ids)
    got = kpi.droplevel("period_end").reindex(expected.index)
    assert np.allclose(got, expected, atol=100 / 273)  # PRB counts are rounded


def test_suspect_flag_encoded(network: Network) -> None:
    values = {"RRU.PrbTotDl": np.full(network.n_cells, 50.0)}
    flags = np.zeros(network.n_cells, dtype=bool)
    flags[3] = True
    batch, _ = decode_batch([v for _, v in encode_reports(network, DAYS[0], values, 900, flags)])
    assert batch.frame.loc[batch.frame["suspect"], "cell"].tolist() == [network.cell_ids[3]]


def test_one_cell_sleeps_per_period_reproducibly_with_zero_traffic_and_its_radio_on() -> None:
    sleepy = Network(sleep_every=pd.Timedelta("6h"), sleep_rops=5)
    asleep = sleepy.asleep(DAYS)
    # Two days of 6-hour periods: eight outages of five ROPs, one cell each, none at a boundary.
    assert asleep.sum() == 8 * 5
    assert (asleep.sum(axis=1) <= 1).all()
    periods = pd.Series(DAYS.floor("6h")[asleep.any(axis=1)]).value_counts()
    assert len(periods) == 8
    assert set(periods) == {5}
    assert len(set(np.nonzero(asleep)[1])) > 1  # not always the same cell
    np.testing.assert_array_equal(
        asleep, Network(sleep_every=pd.Timedelta("6h"), sleep_rops=5).asleep(DAYS)
    )
    counters, awake = sleepy.counters(DAYS), Network().counters(DAYS)
    for name in ("RRU.PrbUsedDl", "RRU.PrbUsedUl", "RRC.ConnMean", "DRB.UEThpDl"):
        assert (counters[name][asleep] == 0).all(), name
        np.testing.assert_array_equal(counters[name][~asleep], awake[name][~asleep])
    assert (counters["RRU.PrbAvailDl"][asleep] == 273).all()
    assert not Network().asleep(DAYS).any()
    with pytest.raises(ValueError, match="do not fit"):
        Network(sleep_every=pd.Timedelta("1h"), sleep_rops=4)


def test_history_is_what_the_rapp_derives_and_its_events_are_the_outages() -> None:
    sleepy = Network(n_cells=40, sleep_every=pd.Timedelta("6h"), sleep_rops=3)
    kpis = history(sleepy, DAYS)
    assert list(kpis.columns) == ["prb_util_dl", "prb_util_ul", "thp_dl", "rrc_conn_mean"]
    assert len(kpis) == 40 * len(DAYS)
    events = sleep_events(sleepy, DAYS)
    assert len(events) == 8
    assert set(events["kind"]) == {"sleeping_cell"}
    for event in events.itertuples():
        during = kpis.xs(event.cell, level="cell").loc[event.start : event.end]
        assert len(during) == 3
        assert (during["prb_util_dl"] == 0).all()
        before = kpis.xs(event.cell, level="cell").loc[: event.start - pd.Timedelta("15min")]
        assert before.empty or before["prb_util_dl"].iloc[-1] > 0


def test_parse_duration() -> None:
    assert parse_duration("2d") == 172_800
    assert parse_duration("6h") == 21_600
    assert parse_duration("900") == 900


async def test_publisher_backfill_then_live(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    net = Network(n_cells=40)
    start = pd.Timestamp("2025-01-06T12:00Z")
    with caplog.at_level(logging.INFO, logger="simulators.o1"):
        published = await run(
            net,
            bootstrap=broker.bootstrap,
            topic="pm-sim",
            backfill_s=3600,
            speed=900 / 0.05,
            rops=2,
            start=start,
            compression="gzip",
        )
    assert published == 6
    assert sum("rop=" in r.message and "cells=40" in r.message for r in caplog.records) == 6
    consumer = AIOKafkaConsumer(
        "pm-sim", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(10):
            while len(values) < 6 * 10:
                polled = await consumer.getmany(timeout_ms=200)
                values += [r.value for part in polled.values() for r in part]
    finally:
        await consumer.stop()
    batch, failures = decode_batch(values)
    assert failures == []
    ends = sorted(set(batch.frame["period_end"]))
    assert ends == list(pd.date_range("2025-01-06T11:15Z", periods=6, freq="15min"))
