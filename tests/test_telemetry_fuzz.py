"""Bad input: property tests on the ranpm codec and the Kafka source, and a restart test.

Codec properties (hypothesis, bounded examples): whatever bytes come in (arbitrary, truncated,
bit-flipped, a value of the wrong type anywhere in a real report, gzip-wrapped), ``decode_batch``
and ``decode_ranpm`` return or raise ``DecodeError``; nothing else escapes. Huge (10 MB string)
and deeply nested (10k levels) inputs too.

Restart test, on a real tansu broker: a stream mixing good ranpm reports and records that are
certainly bad is consumed by a group member that is stopped without committing after a random
number of batches, then by a new member of the same group, and so on. What is asserted:

* every good record (identified by (gNB, period end): one report per gNB per ROP) is in exactly
  one *committed* batch, with all its rows; batches read but not committed before a stop do not
  count (they stand for state lost in a crash) and their records are read again;
* every bad record is on the dead-letter topic; counted by its source (partition, offset)
  headers, each exactly once. A bad record of an uncommitted batch is dead-lettered again after
  the restart, so the topic may hold it twice: such duplicates are allowed only for records of
  uncommitted batches, and the sum of ``dead_lettered`` over committed batches is exactly the
  number of bad records;
* the group's committed offsets end at the end of every partition.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapp.domain import PmBatch
from rapp.telemetry import decode_any, decode_ves, sniff
from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES
from rapp.telemetry.kafka import KafkaPmSource, SourceBatch, safe_decode, unwrap_gzip
from rapp.telemetry.ranpm import DecodeError, decode_batch, decode_ranpm
from simulators.broker import Broker
from simulators.o1 import Network, rop_reports

END = pd.Timestamp("2025-01-06T12:00Z")
STEP = pd.Timedelta(minutes=15)
NETWORK = Network(n_cells=12, cells_per_gnb=4)
GOOD: bytes = rop_reports(NETWORK, END)[0][1]
GOOD_DOC: dict[str, Any] = json.loads(GOOD)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _decodes_or_decode_error(payload: bytes) -> None:
    try:
        batch = decode_ranpm(payload)
    except DecodeError as err:
        reason = err.reason
    else:
        assert isinstance(batch, PmBatch)
        return
    assert reason


def _batch_contract(payloads: list[bytes]) -> None:
    batch, failures = decode_batch(payloads)
    assert isinstance(batch, PmBatch)
    assert all(isinstance(e, DecodeError) and 0 <= i < len(payloads) for i, e in failures)
    assert len({i for i, _ in failures}) == len(failures)


# --- codec properties --------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_arbitrary_bytes(payloads: list[bytes]) -> None:
    _batch_contract(payloads)


@FUZZ
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.booleans())
def test_truncated(cut: int, zipped: bool) -> None:
    whole = gzip.compress(GOOD) if zipped else GOOD
    data = whole[: cut % len(whole)]
    with pytest.raises(DecodeError):
        decode_ranpm(data)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 7)), min_size=1, max_size=8)
)
def test_bit_flipped(flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD)
    for at, bit in flips:
        data[at] ^= 1 << bit
    _decodes_or_decode_error(bytes(data))
    _batch_contract([bytes(data), GOOD])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flipped_gzip(flips: list[tuple[int, int]]) -> None:
    data = bytearray(gzip.compress(GOOD))
    for at, bit in flips:
        data[at % len(data)] ^= 1 << bit
    _decodes_or_decode_error(bytes(data))


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(GOOD_DOC) if p]


@FUZZ
@given(st.sampled_from(PATHS), json_values)
def test_wrong_type_anywhere(path: tuple, value: Any) -> None:
    doc = json.loads(GOOD)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _decodes_or_decode_error(json.dumps(doc).encode())


@FUZZ
@given(st.sampled_from(PATHS))
def test_missing_anything(path: tuple) -> None:
    doc = json.loads(GOOD)
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    _decodes_or_decode_error(json.dumps(doc).encode())


@FUZZ
@given(json_values)
def test_any_json_document(value: Any) -> None:
    _decodes_or_decode_error(json.dumps(value).encode())


def test_huge_string_values() -> None:
    huge = "9" * 10_000_000
    for path in [
        (
            "event",
            "perf3gppFields",
            "measDataCollection",
            "measInfoList",
            0,
            "measValuesList",
            0,
            "measResults",
            0,
            "sValue",
        ),
        (
            "event",
            "perf3gppFields",
            "measDataCollection",
            "measInfoList",
            0,
            "measValuesList",
            0,
            "measObjInstId",
        ),
        ("event", "commonEventHeader", "domain"),
    ]:
        doc = json.loads(GOOD)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = huge
        _decodes_or_decode_error(json.dumps(doc).encode())
    _decodes_or_decode_error(b'"' + b"x" * 10_000_000 + b'"')
    _decodes_or_decode_error(gzip.compress(b" " * 10_000_000))


DEEP = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    json.dumps({"event": {"commonEventHeader": {"domain": "perf3gpp"}}})[:-2].encode()
    + b',"x":'
    + b"[" * 10_000
    + b"]" * 10_000
    + b"}}",
]


@pytest.mark.parametrize("payload", DEEP, ids=["array", "object", "inside-report"])
def test_deeply_nested_codec(payload: bytes) -> None:
    _decodes_or_decode_error(payload)


@pytest.mark.parametrize("payload", DEEP, ids=["array", "object", "inside-report"])
def test_deeply_nested_never_escapes_the_source(payload: bytes) -> None:
    """What the Kafka source does with any decoder: ``safe_decode`` makes it a failure."""
    batch, failures = safe_decode(decode_batch, [GOOD, payload, gzip.compress(payload)])
    assert len(batch) == len(decode_ranpm(GOOD))
    assert [i for i, _ in failures] == [1, 2]
    assert all(isinstance(e, DecodeError) and e.reason for _, e in failures)


def test_gzip_bomb_is_bounded() -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    with pytest.raises(DecodeError, match="expands past"):
        unwrap_gzip(bomb, limit=1_000_000)
    assert unwrap_gzip(gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"
    for bad in (gzip.compress(b"abc")[:-3], gzip.compress(b"abc") + b"junk", b"\x1f\x8bzz"):
        with pytest.raises(DecodeError, match="bad gzip"):
            unwrap_gzip(bad)


def _bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes, built without holding them."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    parts = [deflate.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join([*parts, deflate.flush()])


def test_every_entry_point_bounds_a_gzip_bomb() -> None:
    """No decoder unzips a payload whole before checking its size: ranpm (both paths), VES and
    the format sniffer refuse a stream that expands past the default bound."""
    bomb = _bomb(DEFAULT_MAX_PAYLOAD_BYTES + 2**20)
    assert len(bomb) < 2**20
    for decode in (decode_ranpm, decode_ves, decode_any, sniff):
        with pytest.raises(DecodeError, match="expands past"):
            decode(bomb)
    batch, failures = decode_batch([bomb])
    assert len(batch) == 0
    assert "expands past" in failures[0][1].reason
    with pytest.raises(DecodeError, match="expands past 1000 bytes"):
        decode_any(gzip.compress(GOOD), max_bytes=1000)


# --- the Kafka source on a real broker: mixed stream, restarts, exactly-once accounting ---------


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    log: Path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with Broker(log_file=log) as b:
        yield b


def _bad(rng: random.Random, good: bytes) -> bytes:
    """A record that certainly does not decode."""
    kind = rng.randrange(6)
    if kind == 0:
        return good[: rng.randrange(1, len(good) - 1)]  # truncated compact JSON
    if kind == 1:
        return bytes([good[0] ^ (1 << rng.randrange(8))]) + good[1:]  # the opening brace flipped
    if kind == 2:
        return gzip.compress(good)[: rng.randrange(10, 40)]  # truncated gzip
    if kind == 3:
        return b"\xff" + rng.randbytes(rng.randrange(0, 50))  # not UTF-8
    doc = json.loads(good)
    if kind == 4:
        doc["event"]["commonEventHeader"]["domain"] = rng.choice(["fault", "", None, 7])
    else:
        doc["event"]["perf3gppFields"]["measDataCollection"]["granularityPeriod"] = "900"
    return json.dumps(doc).encode()


@pytest.mark.parametrize("seed", [1, 2])
async def test_restarts_mid_stream_count_every_record_once(broker: Broker, seed: int) -> None:
    rng = random.Random(seed)
    topic = f"fuzz-{uuid.uuid4().hex[:8]}"
    dlq = f"{topic}-dlq"
    group = f"g-{topic}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1), NewTopic(dlq, 1, 1)])
    finally:
        await admin.close()

    good_ids: set[tuple[str, pd.Timestamp]] = set()
    bad_at: set[tuple[int, int]] = set()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        for rop in range(20):
            for key, value in rop_reports(NETWORK, END + rop * STEP):
                if rng.random() < 0.3:
                    meta = await producer.send_and_wait(topic, _bad(rng, value), key=b"bad-" + key)
                    bad_at.add((meta.partition, meta.offset))
                else:
                    await producer.send_and_wait(topic, value, key=key)
                    good_ids.add((key.decode(), END + rop * STEP))
    finally:
        await producer.stop()
    total = len(good_ids) + len(bad_at)

    committed: list[SourceBatch] = []
    uncommitted: list[SourceBatch] = []
    crashes = 3  # members that stop without committing their last batch; then one drains
    async with asyncio.timeout(60):
        for member in range(crashes + 1):
            source = KafkaPmSource(
                bootstrap=broker.bootstrap,
                topic=topic,
                group_id=group,
                dlq_topic=dlq,
                max_records=rng.randint(2, 4),
                poll_timeout_ms=100,
                session_timeout_ms=1000,
                heartbeat_interval_ms=300,
            )
            commit_n = rng.randint(1, 3) if member < crashes else None
            async with source:
                async for sb in source.batches():
                    if commit_n is not None and commit_n == 0:
                        uncommitted.append(sb)  # read, then "crash": never committed
                        break
                    assert await sb.commit()
                    committed.append(sb)
                    if commit_n is not None:
                        commit_n -= 1
                    if sum(b.records for b in committed) >= total:
                        break
    assert len(uncommitted) == crashes

    # good records: each in exactly one committed batch, with every row
    per_id: Counter[tuple[str, pd.Timestamp]] = Counter()
    rows: Counter[tuple[str, pd.Timestamp]] = Counter()
    for sb in committed:
        frame = sb.batch.frame
        gnb = frame["cell"].str.extract(r"ManagedElement=([^,]+)")[0]
        ids = list(zip(gnb, frame["period_end"], strict=True))
        rows.update(ids)
        per_id.update(set(ids))
    assert set(per_id) == good_ids
    assert set(per_id.values()) == {1}
    rows_per_report = len(decode_ranpm(GOOD))
    assert set(rows.values()) == {rows_per_report}
    assert sum(sb.dead_lettered for sb in committed) == len(bad_at)
    assert sum(sb.records for sb in committed) == total

    # bad records: all on the dead-letter topic, once each by source offset
    dead: Counter[tuple[int, int]] = Counter()
    consumer = AIOKafkaConsumer(
        dlq, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        end = (await consumer.end_offsets([TopicPartition(dlq, 0)]))[TopicPartition(dlq, 0)]
        seen = 0
        async with asyncio.timeout(10):
            while seen < end:
                for part in (await consumer.getmany(timeout_ms=200)).values():
                    for r in part:
                        seen += 1
                        h = dict(r.headers)
                        assert h["rapp-source-topic"] == topic.encode()
                        assert h["rapp-dlq-reason"]
                        dead[(int(h["rapp-source-partition"]), int(h["rapp-source-offset"]))] += 1
    finally:
        await consumer.stop()
    assert set(dead) == bad_at
    twice = {at for at, n in dead.items() if n > 1}
    # only records whose batch was read and dropped uncommitted may be there more than once
    assert len(twice) <= sum(sb.dead_lettered for sb in uncommitted)

    probe = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    await probe.start()
    try:
        ends = await probe.end_offsets([TopicPartition(topic, p) for p in range(3)])
        for tp, high in ends.items():
            assert await probe.committed(tp) == (high if high else None)
    finally:
        await probe.stop()
