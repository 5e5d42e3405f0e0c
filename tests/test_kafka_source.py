"""Kafka source against a real tansu broker: decode, dead letters, commit/resume, caught_up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rapp.telemetry.kafka import KafkaPmSource, SourceBatch
from simulators.broker import Broker
from simulators.o1 import Network, rop_reports

GARBAGE = b'{"event": {"commonEventHeader": {"domain": "fault"}}}'
END = pd.Timestamp("2025-01-06T12:00Z")
STEP = pd.Timedelta(minutes=15)
# tansu delays JoinGroup by half the session timeout: keep group membership changes quick
FAST_GROUP = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 300}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    log: Path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with Broker(log_file=log) as b:
        yield b


@pytest.fixture(scope="module")
def network() -> Network:
    return Network(n_cells=40)


async def _topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"pm-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _drain(source: KafkaPmSource, expected: int) -> list[SourceBatch]:
    """Batches until ``expected`` records were read (or the 10 s guard trips)."""
    out: list[SourceBatch] = []
    async with asyncio.timeout(10):
        async for sb in source.batches():
            out.append(sb)
            if sum(b.records for b in out) >= expected:
                break
    return out


def _source(broker: Broker, topic: str, group: str) -> KafkaPmSource:
    return KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        group_id=group,
        dlq_topic=f"{topic}-dlq",
        poll_timeout_ms=100,
        **FAST_GROUP,
    )


async def test_good_records_batch_and_garbage_dead_lettered(
    broker: Broker, network: Network
) -> None:
    topic = await _topic(broker.bootstrap)
    good = rop_reports(network, END)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in good[:5]:
            await producer.send_and_wait(topic, value, key=key)
        bad = await producer.send_and_wait(
            topic, GARBAGE, key=b"gnb-bad", headers=[("trace", b"t-1")]
        )
        for key, value in good[5:]:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    async with _source(broker, topic, "g1") as source:
        batches = await _drain(source, len(good) + 1)
    assert sum(b.dead_lettered for b in batches) == 1
    frame = pd.concat([b.batch.frame for b in batches])
    assert set(frame["cell"]) == set(network.cell_ids)
    assert set(frame["period_end"]) == {END}
    assert batches[-1].caught_up

    dlq = AIOKafkaConsumer(
        f"{topic}-dlq", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await dlq.start()
    try:
        async with asyncio.timeout(10):
            record = await dlq.getone()
    finally:
        await dlq.stop()
    headers = dict(record.headers)
    assert record.value == GARBAGE
    assert record.key == b"gnb-bad"
    assert headers["rapp-dlq-reason"] == b"domain is 'fault', expected 'perf3gpp'"
    assert headers["rapp-source-topic"] == topic.encode()
    assert headers["rapp-source-partition"] == str(bad.partition).encode()
    assert headers["rapp-source-offset"] == str(bad.offset).encode()
    assert headers["trace"] == b"t-1"


async def test_commit_resumes_after_offset_and_no_commit_rereads(
    broker: Broker, network: Network
) -> None:
    topic = await _topic(broker.bootstrap)
    first = rop_reports(network, END)
    await _produce(broker.bootstrap, topic, first)

    # read without committing: the same group reads it all again (at-least-once)
    async with _source(broker, topic, "g2") as source:
        batches = await _drain(source, len(first))
    assert sum(b.records for b in batches) == len(first)
    async with _source(broker, topic, "g2") as source:
        again = await _drain(source, len(first))
        assert sum(b.records for b in again) == len(first)
        for sb in again:
            await sb.commit()

    # after the commit a new member starts after the committed offsets: only new records
    second = rop_reports(network, END + STEP)
    await _produce(broker.bootstrap, topic, second)
    async with _source(broker, topic, "g2") as source:
        resumed = await _drain(source, len(second))
    frame = pd.concat([b.batch.frame for b in resumed])
    assert sum(b.records for b in resumed) == len(second)
    assert set(frame["period_end"]) == {END + STEP}
    assert resumed[-1].caught_up


async def test_caught_up_false_while_records_remain(broker: Broker, network: Network) -> None:
    topic = await _topic(broker.bootstrap, partitions=1)
    records = rop_reports(network, END) * 4
    await _produce(broker.bootstrap, topic, records)
    source = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        group_id="g3",
        dlq_topic=f"{topic}-dlq",
        max_records=7,
        poll_timeout_ms=100,
        **FAST_GROUP,
    )
    async with source:
        batches = await _drain(source, len(records))
    assert all(b.records <= 7 for b in batches)
    assert not batches[0].caught_up
    assert batches[-1].caught_up
