"""``rapp.telemetry.dlq.replay`` on a real tansu broker: dead letters go back to their topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from rapp.telemetry.dlq import replay
from rapp.telemetry.kafka import KafkaPmSource
from simulators.broker import Broker

FAST_GROUP = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 300}
GOOD_REASON = "domain is 'fault', expected 'perf3gpp'"
FAULT = b'{"event": {"commonEventHeader": {"domain": "fault"}}}'


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    log: Path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with Broker(log_file=log) as b:
        yield b


async def _topics(bootstrap: str, *names: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, records: list[tuple]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, *headers in records:
            await producer.send_and_wait(
                topic, value, key=key, headers=headers[0] if headers else None
            )
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str, n: int, *, settle: float = 0.5) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list = []
    try:
        async with asyncio.timeout(10):
            while len(out) < n:
                for part in (await consumer.getmany(timeout_ms=200)).values():
                    out += part
        # and nothing more arrives
        for part in (await consumer.getmany(timeout_ms=int(settle * 1000))).values():
            out += part
    finally:
        await consumer.stop()
    return out


async def _dead_letter(broker: Broker, topic: str, dlq: str, records: list[tuple]) -> None:
    """Produce ``records`` to ``topic`` and run the real source over them once (committing)."""
    await _produce(broker.bootstrap, topic, records)
    source = KafkaPmSource(
        bootstrap=broker.bootstrap,
        topic=topic,
        group_id=f"loop-{uuid.uuid4().hex[:6]}",
        dlq_topic=dlq,
        poll_timeout_ms=100,
        **FAST_GROUP,
    )
    seen = 0
    async with source:
        async with asyncio.timeout(10):
            async for sb in source.batches():
                seen += sb.records
                assert await sb.commit()
                if seen >= len(records):
                    break


async def test_replay_puts_original_records_back_once(broker: Broker) -> None:
    topic, dlq = f"pm-{uuid.uuid4().hex[:6]}", f"dlq-{uuid.uuid4().hex[:6]}"
    await _topics(broker.bootstrap, topic, dlq)
    bad = [
        (b"gnb-1", FAULT, [("trace", b"t-1"), ("gzip", b"")]),
        (b"gnb-2", b"{not json"),
        (None, FAULT),
    ]
    await _dead_letter(broker, topic, dlq, bad)
    assert len(await _read_all(broker.bootstrap, dlq, 3)) == 3

    dry = await replay(bootstrap=broker.bootstrap, dlq_topic=dlq, dry_run=True)
    assert (dry.read, dry.replayed, dry.dry_run) == (3, 3, True)
    assert dry.by_reason[GOOD_REASON] == 2
    assert len(await _read_all(broker.bootstrap, topic, 3)) == 3  # nothing produced

    report = await replay(bootstrap=broker.bootstrap, dlq_topic=dlq)
    assert (report.read, report.replayed, report.remaining) == (3, 3, 0)
    assert report.unroutable == []
    assert dict(report.by_target) == {topic: 3}
    assert report.by_reason[GOOD_REASON] == 2
    assert sum(report.by_reason.values()) == 3
    assert next(r for r in report.by_reason if r != GOOD_REASON).startswith("not JSON")
    assert report.to_dict()["by_target"] == {topic: 3}

    on_topic = await _read_all(broker.bootstrap, topic, 6)
    assert len(on_topic) == 6
    replayed = sorted(on_topic, key=lambda r: r.timestamp)[3:]
    got = sorted((r.key or b"", r.value, tuple(r.headers)) for r in replayed)
    assert got == sorted(
        [
            (b"gnb-1", FAULT, (("trace", b"t-1"), ("gzip", b""))),
            (b"gnb-2", b"{not json", ()),
            (b"", FAULT, ()),
        ]
    )

    again = await replay(bootstrap=broker.bootstrap, dlq_topic=dlq)
    assert (again.read, again.replayed) == (0, 0)  # its offsets were committed
    assert len(await _read_all(broker.bootstrap, topic, 6)) == 6


async def test_replay_limit_target_topic_and_unroutable(broker: Broker) -> None:
    dlq, target = f"dlq-{uuid.uuid4().hex[:6]}", f"fixed-{uuid.uuid4().hex[:6]}"
    await _topics(broker.bootstrap, dlq, target, partitions=1)
    await _produce(
        broker.bootstrap,
        dlq,
        [
            (b"a", b"1", [("rapp-dlq-reason", b"r1"), ("rapp-source-topic", b"elsewhere")]),
            (b"b", b"2", [("keep", b"me")]),  # no rapp headers at all: unroutable by default
            (b"c", b"3", [("rapp-dlq-reason", b"r2"), ("rapp-source-topic", b"elsewhere")]),
        ],
    )
    first = await replay(bootstrap=broker.bootstrap, dlq_topic=dlq, group_id="g-lim", limit=2)
    assert (first.read, first.replayed, first.remaining) == (2, 1, 1)
    assert first.unroutable == [f"{dlq}[0]@1"]
    assert dict(first.by_reason) == {"r1": 1, "(no reason)": 1}

    rest = await replay(
        bootstrap=broker.bootstrap, dlq_topic=dlq, group_id="g-lim", target_topic=target
    )
    assert (rest.read, rest.replayed, rest.remaining) == (1, 1, 0)
    assert dict(rest.by_target) == {target: 1}
    (record,) = await _read_all(broker.bootstrap, target, 1)
    assert (record.key, record.value, list(record.headers)) == (b"c", b"3", [])

    # another group starts from the beginning: everything to the explicit target
    everything = await replay(
        bootstrap=broker.bootstrap, dlq_topic=dlq, group_id="g-all", target_topic=target
    )
    assert (everything.read, everything.replayed, everything.unroutable) == (3, 3, [])
    kept = [r for r in await _read_all(broker.bootstrap, target, 4) if r.key == b"b"]
    assert [list(r.headers) for r in kept] == [[("keep", b"me")]]


async def test_replay_of_a_missing_topic_is_empty(broker: Broker) -> None:
    report = await replay(bootstrap=broker.bootstrap, dlq_topic=f"none-{uuid.uuid4().hex[:6]}")
    assert (report.read, report.replayed, report.remaining) == (0, 0, 0)
    with pytest.raises(ValueError, match="limit"):
        await replay(bootstrap=broker.bootstrap, dlq_topic="x", limit=-1)
