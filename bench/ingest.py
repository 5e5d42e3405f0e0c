"""Ingest benchmark: one ROP decoded, next to the parse-only floor measured in the same run.

    .venv/bin/python bench/ingest.py [--cells 10000 100000] [--counters 20] [--no-kafka]
                                     [--only json|xml|kafka]

For each size: ranpm JSON in two shapes (one report per gNB of 4 cells; one cell per report),
decoded in-process (``decode_batch``) and on every core (``DecodePool``); the floor is orjson
alone parsing the same bytes into Python objects (printed with the cyclic GC on, as a plain
consumer runs it, and paused, which is the stricter floor the ratios use). Then 3GPP TS 32.435
XML (one file per ROP) through ``rapp.telemetry.pmxml.decode_pm_xml`` if that module exists,
with lxml iterparse alone as its floor. Peak memory is tracemalloc's peak over a separate
(untimed) run of the same call. Last, the end-to-end figure: a ROP produced to a real tansu
broker, from the first fetched record to the KPIs of every cell in ``CellState``
(``KafkaPmSource`` + ``derive_kpis`` + ``CellState.ingest`` + commit), in-process decoding and
with ``DecodePool``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import io
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapp.state import CellState  # noqa: E402
from rapp.telemetry import KafkaPmSource, derive_kpis  # noqa: E402
from rapp.telemetry.kpi import KPIS  # noqa: E402
from rapp.telemetry.pool import DecodePool  # noqa: E402
from rapp.telemetry.ranpm import decode_batch  # noqa: E402
from simulators.o1.network import Network  # noqa: E402
from simulators.o1.report import encode_reports  # noqa: E402

END = pd.Timestamp("2026-11-24T12:00Z")
GRAN = 900


def rop_counters(network: Network, n_counters: int) -> dict[str, np.ndarray]:
    """The simulator's 28.552 counters plus vendor-style extras, to ``n_counters`` per cell."""
    values = {k: v[0] for k, v in network.counters(pd.DatetimeIndex([END])).items()}
    rng = np.random.default_rng(7)
    i = 0
    while len(values) < n_counters:
        n = network.n_cells
        values[f"VS.Extra{i}"] = (
            rng.integers(0, 100_000, n) if i % 2 else np.round(rng.uniform(0, 1000, n), 3)
        )
        i += 1
    return values


def json_rop(cells: int, per_report: int, n_counters: int) -> list[bytes]:
    network = Network(n_cells=cells, cells_per_gnb=per_report, seed=1)
    return [v for _, v in encode_reports(network, END, rop_counters(network, n_counters), GRAN)]


def xml_rop(cells: int, n_counters: int) -> bytes:
    """One 32.435 measCollecFile for the ROP: a measInfo per gNB of 4 cells, ``r p=`` form."""
    network = Network(n_cells=cells, cells_per_gnb=4, seed=1)
    values = rop_counters(network, n_counters)
    names = list(values)
    text = [
        [str(v) for v in np.asarray(values[n]).tolist()] for n in names
    ]  # strings once, per counter
    types = "".join(f'<measType p="{p + 1}">{n}</measType>' for p, n in enumerate(names))
    begin = (END - pd.Timedelta(seconds=GRAN)).isoformat()
    out = io.StringIO()
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<measCollecFile xmlns="http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec">'
        '<fileHeader fileFormatVersion="32.435 V10.0" vendorName="RappSim" dnPrefix="">'
        f'<fileSender localDn="rapp-sim"/><measCollec beginTime="{begin}"/></fileHeader>'
    )
    per = network.cells_per_gnb
    for g, gnb in enumerate(network.gnbs):
        dn = network.reporting_entity_dn(gnb)
        out.write(f'<measData><managedElement localDn="{dn}"/><measInfo measInfoId="NRCellDU">')
        out.write(f'<granPeriod duration="PT{GRAN}S" endTime="{END.isoformat()}"/>{types}')
        for c in range(g * per, min((g + 1) * per, cells)):
            rs = "".join(f'<r p="{p + 1}">{text[p][c]}</r>' for p in range(len(names)))
            out.write(
                f'<measValue measObjLdn="{dn},GNBDUFunction=1,NRCellDU={network.cell_local[c]}">'
                f"{rs}<suspect>false</suspect></measValue>"
            )
        out.write("</measInfo></measData>")
    out.write(
        f'<fileFooter><measCollec endTime="{END.isoformat()}"/></fileFooter></measCollecFile>'
    )
    return out.getvalue().encode()


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_mb(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


def orjson_floor(records: list[bytes]) -> list[Any]:
    return [orjson.loads(r) for r in records]


def orjson_floor_gc_paused(records: list[bytes]) -> list[Any]:
    gc.disable()
    try:
        return [orjson.loads(r) for r in records]
    finally:
        gc.enable()


def lxml_floor(data: bytes) -> int:
    """lxml iterparse alone (the issue's floor): a Python object for every element, nothing
    read from it; each measData is freed once parsed, so memory stays that of one gNB."""
    from lxml import etree

    n = 0
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",)):
        tag = el.tag
        if tag.endswith("measValue"):
            n += 1
        elif tag.endswith("measData"):
            el.clear()
    return n


def lxml_read_all(data: bytes) -> int:
    """A stricter reference: iterparse, and every element's text and attributes read."""
    from lxml import etree

    n = 0
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",)):
        _ = el.text, el.attrib
        if el.tag.endswith("measValue"):
            n += 1
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return n


def row(label: str, cells: int, seconds: float, floor: float, mem: float | None) -> None:
    mem_s = f"{mem:8.0f} MB" if mem is not None else " " * 11
    print(
        f"  {label:<40} {seconds * 1e3:8.0f} ms {cells / seconds:>10,.0f} cells/s"
        f" {seconds / floor:6.2f}x floor {mem_s}"
    )


def bench_json(cells: int, n_counters: int, repeat: int, pool: DecodePool) -> None:
    for per, shape in ((4, "4 cells/report"), (1, "1 cell/report")):
        records = json_rop(cells, per, n_counters)
        mb = sum(map(len, records)) / 2**20
        print(
            f"ranpm JSON, {cells:,} cells x {n_counters} counters, {shape}: "
            f"{len(records):,} reports, {mb:.0f} MB"
        )
        floor_on, _ = best_of(lambda r=records: orjson_floor(r), repeat)
        floor, _ = best_of(lambda r=records: orjson_floor_gc_paused(r), repeat)
        row(
            "floor: orjson.loads (GC on)",
            cells,
            floor_on,
            floor,
            peak_mb(lambda r=records: orjson_floor(r)),
        )
        row("floor: orjson.loads (GC paused)", cells, floor, floor, None)
        dec, (batch, failures) = best_of(lambda r=records: decode_batch(r), repeat)
        assert not failures
        assert len(batch) == cells * n_counters
        row(
            "decode_batch (in-process)",
            cells,
            dec,
            floor,
            peak_mb(lambda r=records: decode_batch(r)),
        )
        par, (pbatch, _) = best_of(lambda r=records: pool.decode(r), repeat)
        assert len(pbatch) == len(batch)
        row(f"DecodePool ({pool.workers} worker + caller)", cells, par, floor, None)
        kpi, _ = best_of(lambda b=batch: derive_kpis(b), repeat)
        print(f"  {'derive_kpis (not part of the ratio)':<40} {kpi * 1e3:8.0f} ms")
        del records, batch, pbatch


def bench_xml(cells: int, n_counters: int, repeat: int) -> None:
    try:
        pmxml = importlib.import_module("rapp.telemetry.pmxml")
        decode_pm_xml = pmxml.decode_pm_xml
    except (ImportError, AttributeError) as err:
        print(f"32.435 XML: skipped, rapp.telemetry.pmxml.decode_pm_xml not available ({err})")
        return
    data = xml_rop(cells, n_counters)
    print(
        f"32.435 XML, {cells:,} cells x {n_counters} counters, one file: {len(data) / 2**20:.0f} MB"
    )
    floor, n = best_of(lambda: lxml_floor(data), repeat)
    assert n == cells
    row("floor: lxml iterparse alone", cells, floor, floor, peak_mb(lambda: lxml_floor(data)))
    read_all, n = best_of(lambda: lxml_read_all(data), repeat)
    assert n == cells
    row("iterparse + read every text/attribute", cells, read_all, floor, None)
    dec, batch = best_of(lambda: decode_pm_xml(data), repeat)
    assert len(batch) == cells * n_counters, len(batch)
    row("decode_pm_xml", cells, dec, floor, peak_mb(lambda: decode_pm_xml(data)))


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await producer.flush()
        for f in futures:
            await f
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, topic: str, group: str, cells: int, decoder: Callable[..., Any]
) -> dict[str, float]:
    source = KafkaPmSource(
        bootstrap=bootstrap,
        topic=topic,
        group_id=group,
        dlq_topic=f"{topic}-dlq",
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        max_records=5_000,
        decoder=decoder,
    )
    state = CellState(KPIS, granularity_s=GRAN, retention=4, initial_cells=cells)
    first: list[float] = []
    polls = 0
    async with source:
        getmany = source._consumer.getmany  # timing hook only: when the first record arrived

        async def timed(*args: Any, **kwargs: Any) -> Any:
            got = await getmany(*args, **kwargs)
            if not first and any(got.values()):
                first.append(time.perf_counter())
            return got

        source._consumer.getmany = timed  # type: ignore[method-assign]
        stored = 0
        kpi_s = ingest_s = 0.0
        async for sb in source.batches():
            polls += 1
            t = time.perf_counter()
            kpis = derive_kpis(sb.batch)
            kpi_s += time.perf_counter() - t
            t = time.perf_counter()
            state.ingest(kpis)
            ingest_s += time.perf_counter() - t
            await sb.commit()
            stored += len(kpis)
            if stored >= cells:
                break
        done = time.perf_counter()
    assert len(state.cells) == cells, len(state.cells)
    return {
        "total": done - first[0],
        "polls": polls,
        "kpis": kpi_s,
        "ingest": ingest_s,
    }


def bench_kafka(cells: int, n_counters: int, pool: DecodePool) -> None:
    from simulators.broker import Broker

    network = Network(n_cells=cells, cells_per_gnb=4, seed=1)
    records = encode_reports(network, END, rop_counters(network, n_counters), GRAN)
    print(
        f"end to end on tansu: {cells:,} cells, {len(records):,} ranpm reports "
        f"({sum(len(v) for _, v in records) / 2**20:.0f} MB), topic of 2 partitions"
    )
    with Broker() as broker:
        t = time.perf_counter()
        asyncio.run(_produce(broker.bootstrap, "pm", records))
        print(f"  produced in {time.perf_counter() - t:.1f} s (not counted)")
        for label, decoder in (("in-process decode", decode_batch), ("DecodePool", pool.decode)):
            r = asyncio.run(_consume(broker.bootstrap, "pm", f"bench-{label}", cells, decoder))
            print(
                f"  {label:<20} first record -> all {cells:,} cells in state: "
                f"{r['total']:.2f} s over {r['polls']:.0f} polls "
                f"(derive_kpis {r['kpis']:.2f} s, state ingest {r['ingest']:.2f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--counters", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-kafka", action="store_true")
    parser.add_argument(
        "--only", choices=("json", "xml", "kafka"), help="run one part (default: all three)"
    )
    args = parser.parse_args()
    parts = {args.only} if args.only else {"json", "xml", "kafka"}
    if args.no_kafka:
        parts.discard("kafka")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, orjson {orjson.__version__}"
    )
    with DecodePool() as pool:
        for cells in args.cells:
            if "json" in parts:
                bench_json(cells, args.counters, args.repeat, pool)
            if "xml" in parts:
                bench_xml(cells, args.counters, args.repeat)
        if "kafka" in parts:
            bench_kafka(max(args.cells), args.counters, pool)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MB")


if __name__ == "__main__":
    main()
