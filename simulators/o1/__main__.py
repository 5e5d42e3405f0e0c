"""``python -m simulators.o1``: publish backfill history, then one ROP per tick, to Kafka.

Simulated time starts at the wall clock floored to the granularity; ``--speed`` compresses it
(900 with a 900 s granularity: one ROP per wall second). Backfill goes out as fast as the broker
takes it so the rApp has history to forecast from before the first live ROP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Sequence

import pandas as pd
from aiokafka import AIOKafkaProducer

from simulators.o1.network import Network
from simulators.o1.report import rop_reports

log = logging.getLogger("simulators.o1")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``'2d'``, ``'6h'``, ``'30m'``, ``'900'``."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}; use e.g. 2d, 6h, 30m, 900")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def aligned_now(granularity_s: int) -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor(f"{granularity_s}s")


async def publish_rop(
    producer: AIOKafkaProducer,
    network: Network,
    topic: str,
    period_end: pd.Timestamp,
    granularity_s: int,
) -> int:
    """Send every gNB's report for one ROP and wait until the broker has them all."""
    reports = rop_reports(network, period_end, granularity_s)
    futures = [await producer.send(topic, value=v, key=k) for k, v in reports]
    await asyncio.gather(*futures)
    log.info("rop=%s reports=%d cells=%d", period_end.isoformat(), len(reports), network.n_cells)
    return len(reports)


async def run(
    network: Network,
    *,
    bootstrap: str,
    topic: str,
    granularity_s: int = 900,
    speed: float = 900.0,
    backfill_s: int = 2 * 86400,
    rops: int | None = None,
    start: pd.Timestamp | None = None,
    compression: str | None = None,
) -> int:
    """Publish backfill then live ROPs; returns the number of ROPs published."""
    now = start if start is not None else aligned_now(granularity_s)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    step = pd.Timedelta(seconds=granularity_s)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="o1-sim",
        acks="all",
        enable_idempotence=False,  # tansu cannot do InitProducerId
        linger_ms=10,
        compression_type=compression,
    )
    await producer.start()
    published = 0
    try:
        n_back = backfill_s // granularity_s
        for k in range(n_back - 1, -1, -1):
            await publish_rop(producer, network, topic, now - k * step, granularity_s)
            published += 1
        log.info("backfill done: %d ROPs up to %s", n_back, now.isoformat())
        tick = granularity_s / speed
        t0 = time.monotonic()
        k = 1
        while rops is None or k <= rops:
            # absolute schedule: slow sends do not accumulate drift
            await asyncio.sleep(max(0.0, t0 + k * tick - time.monotonic()))
            await publish_rop(producer, network, topic, now + k * step, granularity_s)
            published += 1
            k += 1
    finally:
        await producer.stop()
    return published


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m simulators.o1", description=__doc__)
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--topic", default="pmreports")
    p.add_argument("--cells", type=int, default=200)
    p.add_argument("--cells-per-gnb", type=int, default=4)
    p.add_argument("--gnbs-per-site", type=int, default=5)
    p.add_argument("--granularity", type=int, default=900, help="ROP length in seconds")
    p.add_argument("--speed", type=float, default=900.0, help="simulated seconds per wall second")
    p.add_argument("--backfill", type=parse_duration, default=parse_duration("2d"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--sleep-every",
        type=parse_duration,
        default=0,
        help="one cell sleeps (serves nobody, raises no alarm) per this much simulated time",
    )
    p.add_argument("--sleep-rops", type=int, default=6, help="how long a cell sleeps, in ROPs")
    p.add_argument("--rops", type=int, default=None, help="stop after N live ROPs")
    p.add_argument("--start", type=pd.Timestamp, default=None, help="simulated now (ISO 8601)")
    p.add_argument("--compression", choices=["gzip", "lz4", "zstd"], default=None)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    network = Network(
        args.cells,
        args.cells_per_gnb,
        args.gnbs_per_site,
        seed=args.seed,
        sleep_every=pd.Timedelta(seconds=args.sleep_every) if args.sleep_every else None,
        sleep_rops=args.sleep_rops,
        granularity_s=args.granularity,
    )
    start = args.start.floor(f"{args.granularity}s") if args.start is not None else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                network,
                bootstrap=args.bootstrap,
                topic=args.topic,
                granularity_s=args.granularity,
                speed=args.speed,
                backfill_s=args.backfill,
                rops=args.rops,
                start=start,
                compression=args.compression,
            )
        )


if __name__ == "__main__":
    main()
