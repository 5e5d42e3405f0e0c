"""Kafka source against a real tansu broker: decode, dead letters, commit/resume, caught_up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from rapp.telemetry.kafka import DeadLetterError, KafkaPmSource, SourceBatch
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
            assert await sb.commit() is True

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


async def _committed(broker: Broker, group: str, tp: TopicPartition) -> int | None:
    probe = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    await probe.start()
    try:
        return await probe.committed(tp)
    finally:
        await probe.stop()


async def _collect(source: KafkaPmSource, into: list[SourceBatch]) -> None:
    async with asyncio.timeout(20):
        async for sb in source.batches():
            into.append(sb)


async def test_dead_letter_failure_stops_without_yield_or_commit(
    broker: Broker, network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await _topic(broker.bootstrap, partitions=1)
    tp = TopicPartition(topic, 0)
    good = rop_reports(network, END)[:5]
    await _produce(broker.bootstrap, topic, good)
    async with _source(broker, topic, "g4") as source:
        for sb in await _drain(source, len(good)):
            assert await sb.commit()
    assert await _committed(broker, "g4", tp) == len(good)

    # one bad record among good ones; the dead-letter topic name is illegal, so tansu refuses it
    await _produce(broker.bootstrap, topic, [*good[:2], (b"gnb-bad", GARBAGE), *good[2:]])
    broken = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        group_id="g4",
        dlq_topic="no such topic!",
        poll_timeout_ms=100,
        dlq_attempts=3,
        dlq_backoff_ms=10,
        dlq_timeout_ms=300,
        **FAST_GROUP,
    )
    yielded: list[SourceBatch] = []
    async with broken:
        with pytest.raises(DeadLetterError) as info:
            await _collect(broken, yielded)
        # the poll was rewound: iterating again meets the same record, never skips past it
        with pytest.raises(DeadLetterError) as again_info:
            await _collect(broken, yielded)
    assert again_info.value.offset == info.value.offset
    assert yielded == []
    err = info.value
    assert (err.topic, err.partition, err.offset) == (topic, 0, len(good) + 2)
    assert err.reason == "domain is 'fault', expected 'perf3gpp'"
    assert isinstance(err.cause, KafkaError)
    assert isinstance(err.__cause__, KafkaError)
    assert f"{topic}[0]@{len(good) + 2}" in str(err)
    failures = [r for r in caplog.records if "dead-lettering" in r.getMessage()]
    assert [r.getMessage().split("(attempt ")[1][:6] for r in failures] == [
        "1 of 3",
        "2 of 3",
        "3 of 3",
    ] * 2
    assert await _committed(broker, "g4", tp) == len(good)

    # nothing was lost: a healthy member of the group reads the bad record again
    async with _source(broker, topic, "g4") as source:
        again = await _drain(source, len(good) + 1)
    assert sum(b.records for b in again) == len(good) + 1
    assert sum(b.dead_lettered for b in again) == 1


async def test_commit_after_rebalance_returns_false_and_loop_goes_on(
    broker: Broker, network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await _topic(broker.bootstrap, partitions=3)
    records = rop_reports(network, END)
    await _produce(broker.bootstrap, topic, records)
    async with _source(broker, topic, "g5") as first:
        batches = first.batches()
        polled = await anext(batches)
        assert polled.records == len(records)  # so it holds offsets of all three partitions

        # a second member joins: the group rebalances and takes partitions away from the first
        second = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id="g5",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **FAST_GROUP,
        )
        await second.start()
        try:
            async with asyncio.timeout(15):
                while not second.assignment():
                    await second.getmany(timeout_ms=100)
            assert await polled.commit() is False
            assert "will be redelivered" in caplog.text
            # the loop is still alive and re-reads what it could not commit
            async with asyncio.timeout(10):
                after = await anext(batches)
            assert after.records > 0
        finally:
            await second.stop()
            await batches.aclose()
    for part in range(3):
        assert await _committed(broker, "g5", TopicPartition(topic, part)) is None
