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
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential

from rapp.domain import PmBatch
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

Decoder: TypeAlias = Callable[[Sequence[bytes]], tuple[PmBatch, list[tuple[int, DecodeError]]]]
"""Many payloads in, one batch out; a bad payload is reported by its index, never raised."""

log = logging.getLogger(__name__)

DLQ_REASON = "rapp-dlq-reason"
DLQ_TOPIC = "rapp-source-topic"
DLQ_PARTITION = "rapp-source-partition"
DLQ_OFFSET = "rapp-source-offset"
HEADER_GZIP = "gzip"
HEADER_TYPE_ID = "type-id"
HEADER_SOURCE_NAME = "source-name"
_DLQ_MAX_BACKOFF_S = 5.0
_GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 2**20


def unwrap_gzip(data: bytes, limit: int = DEFAULT_MAX_PAYLOAD_BYTES) -> bytes:
    """``data`` itself, or its gzip content (all members) when it starts with the gzip magic.

    Never expands past ``limit`` bytes (a gzip bomb is a ``DecodeError``, not an OOM kill).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest.startswith(_GZIP_MAGIC):
            inflater = zlib.decompressobj(wbits=31)
            chunk = inflater.decompress(rest, limit - size + 1)
            size += len(chunk)
            out.append(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise DecodeError(f"gzip payload expands past {limit} bytes")
            if not inflater.eof:
                raise DecodeError("bad gzip: truncated stream")
            rest = inflater.unused_data
    except zlib.error as err:
        raise DecodeError(f"bad gzip: {err}") from None
    if rest.strip(b"\x00"):
        raise DecodeError(f"bad gzip: {len(rest)} bytes of trailing garbage")
    return b"".join(out)


def safe_decode(
    decoder: Decoder, payloads: Sequence[bytes]
) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
    """``decoder(payloads)``, but an exception other than ``DecodeError`` (or a malformed
    result) never escapes: the payloads are decoded again one by one, and each one that makes
    the decoder raise is reported as a failure whose reason names the exception."""
    try:
        batch, failures = decoder(payloads)
        if all(0 <= i < len(payloads) for i, _ in failures) and isinstance(batch, PmBatch):
            return batch, failures
        log.error("decoder %r returned an impossible result; decoding one by one", decoder)
    except Exception as err:
        log.warning(
            "decoder %r raised %s on a poll of %d records; decoding them one by one",
            decoder,
            type(err).__name__,
            len(payloads),
        )
    batches: list[PmBatch] = []
    failures = []
    for i, payload in enumerate(payloads):
        try:
            one, bad = decoder([payload])
        except DecodeError as err:
            failures.append((i, err))
            continue
        except Exception as err:
            failures.append((i, DecodeError(f"decoder failed: {_exc_text(err)}")))
            continue
        if bad:
            failures.append((i, bad[0][1]))
        else:
            batches.append(one)
    return PmBatch.concat(batches), failures


def _exc_text(err: BaseException) -> str:
    text = str(err).splitlines()[0][:200] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class DeadLetterError(RuntimeError):
    """A bad record could not be put on the dead-letter topic, even after retries.

    Its batch was not yielded and not committed; the record is read again after a restart.
    """

    def __init__(
        self, topic: str, partition: int, offset: int, reason: str, cause: BaseException
    ) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        self.reason = reason
        """Why the record was dead-lettered (its decode error)."""
        self.cause = cause
        """The last produce error."""
        super().__init__(
            f"could not dead-letter {topic}[{partition}]@{offset} ({reason}): "
            f"{type(cause).__name__}: {cause}"
        )


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
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=f"{client_id}-dlq",
            acks="all",
            enable_idempotence=False,
            request_timeout_ms=dlq_timeout_ms,
            **security,
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
            batch, failures = self._decode(records)
            try:
                for index, error in failures:
                    await self._dead_letter(records[index], error)
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
                caught_up=await self._caught_up(),
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
                    plain.append(self._unwrap(records[i]))
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
                        _check_headers(records[plain_at[j]], payload, decoder)
        failures.sort(key=lambda f: f[0])
        return PmBatch.concat(batches), failures

    def _unwrap(self, record: ConsumerRecord[Any, Any]) -> bytes:
        value = record.value
        if value is None:
            raise DecodeError("record has no value (a tombstone)")
        data = bytes(value)
        if not data.startswith(_GZIP_MAGIC):
            if log.isEnabledFor(logging.DEBUG) and _header(record, HEADER_GZIP) is not None:
                log.debug("%s has a gzip header but is not gzip; decoded as it is", _where(record))
            return data
        return unwrap_gzip(data, self.max_payload_bytes)

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

    async def _caught_up(self) -> bool:
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None or await self._consumer.position(tp) < high:
                return False
        return True

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: DecodeError) -> None:
        headers = [
            (DLQ_REASON, error.reason.encode()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
            *record.headers,
        ]
        where = f"{record.topic}[{record.partition}]@{record.offset}"

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "dead-lettering %s to %s failed (attempt %d of %d): %r",
                where,
                self.dlq_topic,
                state.attempt_number,
                self.dlq_attempts,
                exc,
            )

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.dlq_attempts),
                wait=wait_exponential(multiplier=self.dlq_backoff_s, max=_DLQ_MAX_BACKOFF_S),
                after=failed,
                reraise=True,
            ):
                with attempt:
                    await self._producer.send_and_wait(
                        self.dlq_topic, value=record.value, key=record.key, headers=headers
                    )
        except Exception as err:
            dead = DeadLetterError(record.topic, record.partition, record.offset, error.reason, err)
            log.error("%s; stopping without yielding or committing its batch", dead)
            raise dead from err
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            error.reason,
        )


def _header(record: ConsumerRecord[Any, Any], name: str) -> bytes | None:
    for key, value in record.headers or ():
        if key == name:
            return value if value is not None else b""
    return None


def _where(record: ConsumerRecord[Any, Any]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def _check_headers(record: ConsumerRecord[Any, Any], payload: bytes, decoder: Decoder) -> None:
    """DEBUG lines where the informational headers disagree with the data (which wins)."""
    type_id = _header(record, HEADER_TYPE_ID)
    if type_id:
        claimed = type_id.decode(errors="replace").lower()
        head = payload[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        actual = "xml" if head.startswith(b"<") else "json" if head[:1] in (b"{", b"[") else None
        for kind in ("xml", "json"):
            if kind in claimed and actual is not None and actual != kind:
                log.debug(
                    "%s: type-id header %r says %s, the payload is %s",
                    _where(record),
                    claimed,
                    kind,
                    actual,
                )
    source = _header(record, HEADER_SOURCE_NAME)
    if source:
        name = source.decode(errors="replace")
        try:
            batch, bad = decoder([payload])
        except Exception:
            return
        if bad or not len(batch):
            return
        cells = batch.frame["cell"].unique()
        if not any(name in str(cell) for cell in cells):
            log.debug(
                "%s: source-name header %r names none of its %d cells (e.g. %s)",
                _where(record),
                name,
                len(cells),
                cells[0],
            )


def _describe(offsets: dict[TopicPartition, OffsetAndMetadata]) -> str:
    return ", ".join(
        f"{tp.topic}[{tp.partition}]@{om.offset}"
        for tp, om in sorted(offsets.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
    )
