"""Kafka source against a real tansu broker: decode, dead letters, commit/resume, caught_up."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

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


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **security: Any
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **security)
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


# --- ranpm headers, several topics, pluggable decoders, Kafka-level compression ---------------


def _stub_decoder(cell: str):
    """A decoder that turns every payload b"ok..." into one row for ``cell``."""
    from rapp.domain import PmBatch
    from rapp.telemetry.ranpm import DecodeError

    def decode(payloads):
        rows, bad = [], []
        for i, p in enumerate(payloads):
            if p.startswith(b"ok"):
                rows.append(
                    {
                        "cell": f"{cell}-{p.decode()}",
                        "period_end": END,
                        "granularity_s": 900,
                        "counter": "c",
                        "value": 1.0,
                        "suspect": False,
                    }
                )
            else:
                bad.append((i, DecodeError(f"stub refuses {p[:10]!r}")))
        frame = pd.DataFrame(rows) if rows else PmBatch.empty().frame
        return PmBatch(frame), bad

    return decode


async def _dlq_records(broker: Broker, topic: str, n: int) -> list:
    dlq = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    out = []
    try:
        async with asyncio.timeout(10):
            while len(out) < n:
                for part in (await dlq.getmany(timeout_ms=200)).values():
                    out += part
    finally:
        await dlq.stop()
    return out


async def test_gzip_payloads_with_and_without_the_header(
    broker: Broker, network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    import gzip
    import logging

    caplog.set_level(logging.DEBUG, logger="rapp.telemetry.kafka")
    topic = await _topic(broker.bootstrap, partitions=1)
    good = rop_reports(network, END)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        # 1: gzip + header; 2: gzip, no header (the bytes decide); 3: header on a plain payload;
        # 4: header and magic but a corrupt stream: dead-lettered with the original bytes
        key0, v0 = good[0]
        await producer.send_and_wait(
            topic, gzip.compress(v0), key=key0, headers=[("gzip", b""), ("type-id", b"PmData")]
        )
        await producer.send_and_wait(topic, gzip.compress(good[1][1]), key=good[1][0])
        await producer.send_and_wait(topic, good[2][1], key=good[2][0], headers=[("gzip", b"")])
        broken = gzip.compress(good[3][1])[:-20]
        await producer.send_and_wait(topic, broken, key=b"bad", headers=[("gzip", b"")])
        # 5: headers that lie: says xml and another source; decoded from the data all the same
        await producer.send_and_wait(
            topic,
            good[4][1],
            key=good[4][0],
            headers=[("type-id", b"xml-file-data"), ("source-name", b"gnb-that-is-not")],
        )
        # 6: a truthful source-name: no debug line
        await producer.send_and_wait(
            topic, good[5][1], key=good[5][0], headers=[("source-name", good[5][0])]
        )
    finally:
        await producer.stop()

    async with _source(broker, topic, "g-gzip") as source:
        batches = await _drain(source, 6)
    frame = pd.concat([b.batch.frame for b in batches])
    gnbs = [k.decode() for k, _ in good[:6]]
    expected = {c for c in network.cell_ids if any(f"={g}," in c for g in gnbs[:3] + gnbs[4:6])}
    assert set(frame["cell"]) == expected
    assert sum(b.dead_lettered for b in batches) == 1
    (dead,) = await _dlq_records(broker, f"{topic}-dlq", 1)
    assert dead.value == broken
    assert dict(dead.headers)["rapp-dlq-reason"].startswith(b"bad gzip")
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert any("has a gzip header but is not gzip" in m and "@2" in m for m in debug)
    assert any("type-id header 'xml-file-data' says xml, the payload is json" in m for m in debug)
    assert any("source-name header 'gnb-that-is-not' names none of its" in m for m in debug)
    assert not any(gnbs[5] in m for m in debug)


async def test_several_topics_with_a_decoder_per_topic(broker: Broker, network: Network) -> None:
    ranpm_topic = await _topic(broker.bootstrap, partitions=2)
    stub_topic = await _topic(broker.bootstrap, partitions=1)
    good = rop_reports(network, END)
    await _produce(broker.bootstrap, ranpm_topic, [*good, (b"bad", b"ok-but-not-ranpm")])
    await _produce(broker.bootstrap, stub_topic, [(b"k", b"ok1"), (b"k", b"ok2"), (b"k", b"no")])
    source = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=ranpm_topic,
        topics=[stub_topic],
        decoders={stub_topic: _stub_decoder("stub")},
        group_id="g-multi",
        dlq_topic=f"{ranpm_topic}-dlq",
        poll_timeout_ms=100,
        **FAST_GROUP,
    )
    assert source.topics == (ranpm_topic, stub_topic)
    assert source.topic == ranpm_topic
    async with source:
        batches = await _drain(source, len(good) + 4)
        for sb in batches:
            assert await sb.commit()
    frame = pd.concat([b.batch.frame for b in batches])
    assert set(frame["cell"]) == {*network.cell_ids, "stub-ok1", "stub-ok2"}
    dead = await _dlq_records(broker, f"{ranpm_topic}-dlq", 2)
    by_topic = {dict(r.headers)["rapp-source-topic"].decode(): r for r in dead}
    assert by_topic[stub_topic].value == b"no"
    assert dict(by_topic[stub_topic].headers)["rapp-dlq-reason"] == b"stub refuses b'no'"
    assert by_topic[ranpm_topic].value == b"ok-but-not-ranpm"
    assert dict(by_topic[ranpm_topic].headers)["rapp-dlq-reason"].startswith(b"not JSON")


async def test_topic_and_decoder_arguments_are_checked() -> None:
    common = {"bootstrap": "127.0.0.1:1", "group_id": "g", "dlq_topic": "d"}
    with pytest.raises(ValueError, match="no topic"):
        KafkaPmSource(**common)
    with pytest.raises(ValueError, match="decoders for topics not read"):
        KafkaPmSource(**common, topic="a", decoders={"b": _stub_decoder("x")})
    with pytest.raises(ValueError, match="dead-letter topic"):
        KafkaPmSource(**common, topics=["a", "d"])
    assert KafkaPmSource(**common, topic="a", topics=["a", "b"]).topics == ("a", "b")


async def test_a_decoder_that_crashes_dead_letters_only_the_records_it_crashes_on(
    broker: Broker,
) -> None:
    topic = await _topic(broker.bootstrap, partitions=1)
    stub = _stub_decoder("c")

    def crashing(payloads):
        if any(p == b"boom" for p in payloads):
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return stub(payloads)

    await _produce(broker.bootstrap, topic, [(b"k", b"ok1"), (b"k", b"boom"), (b"k", b"ok2")])
    source = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        decoder=crashing,
        group_id="g-crash",
        dlq_topic=f"{topic}-dlq",
        poll_timeout_ms=100,
        **FAST_GROUP,
    )
    async with source:
        batches = await _drain(source, 3)
    assert set(pd.concat([b.batch.frame for b in batches])["cell"]) == {"c-ok1", "c-ok2"}
    (dead,) = await _dlq_records(broker, f"{topic}-dlq", 1)
    assert dead.value == b"boom"
    assert dict(dead.headers)["rapp-dlq-reason"] == (
        b"decoder failed: RecursionError: maximum recursion depth exceeded while decoding a JSON"
        b" array"
    )


@pytest.mark.parametrize("compression", ["gzip", "lz4", "zstd", "snappy"])
async def test_reads_topics_produced_with_each_compression_type(
    broker: Broker, network: Network, compression: str
) -> None:
    topic = await _topic(broker.bootstrap, partitions=2)
    good = rop_reports(network, END)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        compression_type=compression,
        linger_ms=20,  # so that records share (compressed) batches
    )
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, v, key=k) for k, v in good])
    finally:
        await producer.stop()
    async with _source(broker, topic, f"g-{compression}") as source:
        batches = await _drain(source, len(good))
    assert sum(b.dead_lettered for b in batches) == 0
    assert set(pd.concat([b.batch.frame for b in batches])["cell"]) == set(network.cell_ids)


async def test_an_idle_stream_read_to_its_end_is_caught_up(
    broker: Broker, network: Network
) -> None:
    """Push sources decide only while Kafka is caught up: a quiet topic must count as caught up
    once read, and again once new records are read."""
    topic = await _topic(broker.bootstrap, partitions=2)
    source = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        group_id="g-idle",
        dlq_topic=f"{topic}-dlq",
        poll_timeout_ms=100,
        **FAST_GROUP,
    )
    read: list[SourceBatch] = []

    async def reader() -> None:
        async for batch in source.batches():
            read.append(batch)

    async def until(predicate: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(20):
            while not await predicate():  # noqa: ASYNC110 - the broker has no event to wait on
                await asyncio.sleep(0.05)

    async with source:
        assert not await source.caught_up()  # nothing assigned or fetched yet
        task = asyncio.create_task(reader())
        try:
            await until(source.caught_up)
            records = rop_reports(network, END)
            await _produce(broker.bootstrap, topic, records)

            async def all_read() -> bool:
                return sum(b.records for b in read) == len(records)

            await until(all_read)
            assert read[-1].caught_up
            assert await source.caught_up()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
