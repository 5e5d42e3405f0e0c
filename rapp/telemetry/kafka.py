"""PM reports in from Kafka: one poll, one ``PmBatch``; bad records go to a dead-letter topic.

Delivery is at-least-once: offsets are committed only when the caller says the batch is in
state (``SourceBatch.commit``), and a bad record is on the dead-letter topic (acks=all) before its
batch is even yielded, so a crash anywhere re-reads rather than loses. The test broker (tansu)
cannot do idempotent producers or transactions, so neither is used.

A dead-letter produce that still fails after a few retries raises ``DeadLetterError`` and ends
``batches()``: that batch is not yielded and nothing of it is committed, because stopping is
better than losing a record. A commit refused because the group rebalanced (the partitions may
belong to another member now) is not fatal: ``SourceBatch.commit`` returns False and the records
are read again, by this member or the new owner.

Topics and decoders: one source reads one or more topics (one topic per format, as ranpm and
VES deployments do), each with its decoder: ``decoders`` maps a topic to its decoder and
``decoder`` serves every other topic. A mapping keyed by topic, rather than one decoder that
sniffs every record, because the topic already says what a record is (a sniffing decoder such
as ``decode_any`` can still be given as ``decoder``), and because a typo in a topic name is then
caught at construction (``ValueError``) instead of silently decoding with the wrong codec.

Headers (O-RAN SC ranpm): ``gzip`` says the payload is gzipped. The bytes decide, not the
header: a payload that starts with the gzip magic is unzipped (at most ``max_payload_bytes``)
before the decoder sees it, with or without the header; a ``gzip`` header on a payload that is
not gzip is logged at DEBUG and the payload decoded as it is. ``type-id`` and ``source-name``
are informational and never change how a record is decoded; when DEBUG logging is on, a
``source-name`` that names none of the record's decoded cells, or a ``type-id`` that says xml
(json) of a payload that is JSON (XML), is logged at DEBUG. Kafka-level compression
(gzip/lz4/zstd/snappy record batches) is undone by aiokafka (cramjam) before any of this.

A decoder that raises anything but ``DecodeError`` (a bug, a ``RecursionError`` on deeply nested
JSON) does not end the loop: the poll is decoded again record by record and the records that
make the decoder raise are dead-lettered with the exception as their reason.

This module is the consumer loop; the payload handling (gzip, headers, ``safe_decode``) is in
``_payloads`` and the dead-letter producer with its retries in ``_dead_letters``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from rapp.domain import PmBatch
from rapp.telemetry._dead_letters import (
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_TOPIC,
    DeadLetterError,
    dead_letter,
    dead_letter_producer,
)
from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES, unwrap_gzip
from rapp.telemetry._payloads import (
    HEADER_GZIP,
    HEADER_SOURCE_NAME,
    HEADER_TYPE_ID,
    Decoder,
    check_headers,
    record_payload,
    safe_decode,
)
from rapp.telemetry.ranpm import DecodeError, decode_batch

__all__ = [
    "DLQ_OFFSET",
    "DLQ_PARTITION",
    "DLQ_REASON",
    "DLQ_TOPIC",
    "HEADER_GZIP",
    "HEADER_SOURCE_NAME",
    "HEADER_TYPE_ID",
    "DeadLetterError",
    "Decoder",
    "KafkaPmSource",
    "SourceBatch",
    "safe_decode",
    "unwrap_gzip",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceBatch:
    """The decoded records of one poll, and the means to commit exactly them."""

    batch: PmBatch
    records: int
    dead_lettered: int
    caught_up: bool
    """The consumer had read everything available on its partitions when this batch was taken."""
    commit: Callable[[], Awaitable[bool]]
    """Commit this batch's offsets; call only after the batch is in state. False (and a warning)
    when the group rebalanced meanwhile: the commit was refused and the records come again."""


class KafkaPmSource:
    """A consumer-group member reading PM reports from one or more topics."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        dlq_topic: str,
        topic: str | None = None,
        topics: Sequence[str] | None = None,
        decoder: Decoder = decode_batch,
        decoders: Mapping[str, Decoder] | None = None,
        client_id: str = "rapp",
        max_records: int = 5000,
        poll_timeout_ms: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        dlq_attempts: int = 5,
        dlq_backoff_ms: int = 200,
        dlq_timeout_ms: int = 10_000,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        **security: Any,
    ) -> None:
        """``security``: plain aiokafka kwargs (security_protocol, sasl_*, ssl_context) for both
        clients. tansu answers JoinGroup only after half the session timeout and lets a departed
        member linger until its session expires, so tests pass a short ``session_timeout_ms``.

        ``topic`` and ``topics`` together name the topics read (at least one). ``decoders``
        maps some of them to their own decoder; the others use ``decoder``. A key of
        ``decoders`` that is not a topic read is a ``ValueError``.

        A dead-letter produce is tried ``dlq_attempts`` times, each bounded by ``dlq_timeout_ms``
        (the producer's request timeout), with exponential backoff from ``dlq_backoff_ms``
        (doubling, at most 5 s) between tries; then ``DeadLetterError``.
        """
        if dlq_attempts < 1:
            raise ValueError(f"dlq_attempts must be at least 1, got {dlq_attempts}")
        names = [*([topic] if topic else []), *(topics or [])]
        self.topics: tuple[str, ...] = tuple(dict.fromkeys(names))
        if not self.topics:
            raise ValueError("no topic to read: give topic= or topics=")
        unknown = set(decoders or {}) - set(self.topics)
        if unknown:
            raise ValueError(f"decoders for topics not read: {sorted(unknown)}")
        if dlq_topic in self.topics:
            raise ValueError(f"the dead-letter topic {dlq_topic!r} is also read")
        self.topic = self.topics[0]
        """The first topic read (kept for callers written for one topic)."""
        self.dlq_topic = dlq_topic
        self._decoders: dict[str, Decoder] = {t: decoder for t in self.topics} | dict(
            decoders or {}
        )
        self.max_payload_bytes = max_payload_bytes
        self.dlq_attempts, self.dlq_backoff_s = dlq_attempts, dlq_backoff_ms / 1000
        self.max_records, self.poll_timeout_ms = max_records, poll_timeout_ms
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            **security,
        )
        self._producer = dead_letter_producer(
            bootstrap=bootstrap, client_id=client_id, timeout_ms=dlq_timeout_ms, **security
        )
        self._running = False

    async def start(self) -> None:
        """Connect both clients; on failure neither is left half-open, so start can be retried."""
        try:
            await self._producer.start()
            await self._consumer.start()
        except BaseException:
            await self.stop()
            raise
        self._running = True

    async def stop(self) -> None:
        self._running = False
        try:
            await self._consumer.stop()
        finally:
            await self._producer.stop()

    async def __aenter__(self) -> KafkaPmSource:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def batches(self) -> AsyncIterator[SourceBatch]:
        """One ``SourceBatch`` per non-empty poll, until ``stop()``."""
        while self._running:
            polled = await self._consumer.getmany(
                timeout_ms=self.poll_timeout_ms, max_records=self.max_records
            )
            records = [r for part in polled.values() for r in part]
            if not records:
                continue
            # Off the event loop: a 100k-cell poll decodes for seconds, and heartbeats, the API
            # and the other sources must go on meanwhile.
            batch, failures = await asyncio.to_thread(self._decode, records)
            try:
                for index, error in failures:
                    await dead_letter(
                        self._producer,
                        self.dlq_topic,
                        records[index],
                        error,
                        attempts=self.dlq_attempts,
                        backoff_s=self.dlq_backoff_s,
                    )
            except DeadLetterError:
                # nothing of this poll is yielded or committed; rewind so that a caller who
                # iterates again re-reads it instead of committing past the lost record
                for tp, part in polled.items():
                    if part:
                        self._consumer.seek(tp, part[0].offset)
                raise
            offsets = {
                tp: OffsetAndMetadata(part[-1].offset + 1, "")
                for tp, part in polled.items()
                if part
            }
            yield SourceBatch(
                batch=batch,
                records=len(records),
                dead_lettered=len(failures),
                caught_up=await self.caught_up(),
                commit=self._committer(offsets),
            )

    def _decode(
        self, records: list[ConsumerRecord[Any, Any]]
    ) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
        """Decode one poll, topic by topic; failures indexed into ``records``, in order."""
        by_topic: dict[str, list[int]] = defaultdict(list)
        for i, record in enumerate(records):
            by_topic[record.topic].append(i)
        batches: list[PmBatch] = []
        failures: list[tuple[int, DecodeError]] = []
        debug = log.isEnabledFor(logging.DEBUG)
        for topic, indices in by_topic.items():
            decoder = self._decoders.get(topic, decode_batch)
            plain: list[bytes] = []
            plain_at: list[int] = []  # index into ``records`` of each payload in ``plain``
            for i in indices:
                try:
                    plain.append(record_payload(records[i], self.max_payload_bytes))
                    plain_at.append(i)
                except DecodeError as err:
                    failures.append((i, err))
            batch, bad = safe_decode(decoder, plain)
            failures += [(plain_at[j], err) for j, err in bad]
            batches.append(batch)
            if debug:
                rejected = {j for j, _ in bad}
                for j, payload in enumerate(plain):
                    if j not in rejected:
                        check_headers(records[plain_at[j]], payload, decoder)
        failures.sort(key=lambda f: f[0])
        return PmBatch.concat(batches), failures

    def _committer(
        self, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> Callable[[], Awaitable[bool]]:
        async def commit() -> bool:
            # explicit offsets: a bare commit() would also commit records polled after this batch
            try:
                await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as err:
                # the group rebalanced since the poll: these partitions restart from the last
                # committed offset, here or at their new owner
                log.warning(
                    "commit of %s refused after a rebalance, the records will be redelivered: %s",
                    _describe(offsets),
                    str(err).splitlines()[0] if str(err) else type(err).__name__,
                )
                return False
            return True

        return commit

    async def caught_up(self) -> bool:
        """Whether every assigned partition has been read to its last known offset."""
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None or await self._consumer.position(tp) < high:
                return False
        return True


def _describe(offsets: dict[TopicPartition, OffsetAndMetadata]) -> str:
    return ", ".join(
        f"{tp.topic}[{tp.partition}]@{om.offset}"
        for tp, om in sorted(offsets.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
    )
