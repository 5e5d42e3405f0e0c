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
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

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
    "DeadLetterError",
    "KafkaPmSource",
    "SourceBatch",
]

log = logging.getLogger(__name__)

DLQ_REASON = "rapp-dlq-reason"
DLQ_TOPIC = "rapp-source-topic"
DLQ_PARTITION = "rapp-source-partition"
DLQ_OFFSET = "rapp-source-offset"
_DLQ_MAX_BACKOFF_S = 5.0


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
    """A consumer-group member reading ranpm PM reports from one topic."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        dlq_topic: str,
        client_id: str = "rapp",
        max_records: int = 5000,
        poll_timeout_ms: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        dlq_attempts: int = 5,
        dlq_backoff_ms: int = 200,
        dlq_timeout_ms: int = 10_000,
        **security: Any,
    ) -> None:
        """``security``: plain aiokafka kwargs (security_protocol, sasl_*, ssl_context) for both
        clients. tansu answers JoinGroup only after half the session timeout and lets a departed
        member linger until its session expires, so tests pass a short ``session_timeout_ms``.

        A dead-letter produce is tried ``dlq_attempts`` times, each bounded by ``dlq_timeout_ms``
        (the producer's request timeout), with exponential backoff from ``dlq_backoff_ms``
        (doubling, at most 5 s) between tries; then ``DeadLetterError``.
        """
        if dlq_attempts < 1:
            raise ValueError(f"dlq_attempts must be at least 1, got {dlq_attempts}")
        self.topic, self.dlq_topic = topic, dlq_topic
        self.dlq_attempts, self.dlq_backoff_s = dlq_attempts, dlq_backoff_ms / 1000
        self.max_records, self.poll_timeout_ms = max_records, poll_timeout_ms
        self._consumer = AIOKafkaConsumer(
            topic,
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
            batch, failures = decode_batch([r.value for r in records])
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


def _describe(offsets: dict[TopicPartition, OffsetAndMetadata]) -> str:
    return ", ".join(
        f"{tp.topic}[{tp.partition}]@{om.offset}"
        for tp, om in sorted(offsets.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
    )
