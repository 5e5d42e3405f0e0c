"""PM reports in from Kafka: one poll, one ``PmBatch``; bad records go to a dead-letter topic.

Delivery is at-least-once: offsets are committed only when the caller says the batch is in
state (``SourceBatch.commit``), and a bad record is on the dead-letter topic (acks=all) before its
batch is even yielded, so a crash anywhere re-reads rather than loses. The test broker (tansu)
cannot do idempotent producers or transactions, so neither is used.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from rapp.domain import PmBatch
from rapp.telemetry.ranpm import DecodeError, decode_batch

log = logging.getLogger(__name__)

DLQ_REASON = "rapp-dlq-reason"
DLQ_TOPIC = "rapp-source-topic"
DLQ_PARTITION = "rapp-source-partition"
DLQ_OFFSET = "rapp-source-offset"


@dataclass(frozen=True)
class SourceBatch:
    """The decoded records of one poll, and the means to commit exactly them."""

    batch: PmBatch
    records: int
    dead_lettered: int
    caught_up: bool
    """The consumer had read everything available on its partitions when this batch was taken."""
    commit: Callable[[], Awaitable[None]]
    """Commit this batch's offsets; call only after the batch is in state."""


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
        **security: Any,
    ) -> None:
        """``security``: plain aiokafka kwargs (security_protocol, sasl_*, ssl_context) for both
        clients. tansu answers JoinGroup only after half the session timeout and lets a departed
        member linger until its session expires, so tests pass a short ``session_timeout_ms``.
        """
        self.topic, self.dlq_topic = topic, dlq_topic
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
            for index, error in failures:
                await self._dead_letter(records[index], error)
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
    ) -> Callable[[], Awaitable[None]]:
        async def commit() -> None:
            # explicit offsets: a bare commit() would also commit records polled after this batch
            await self._consumer.commit(offsets)

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
        await self._producer.send_and_wait(
            self.dlq_topic, value=record.value, key=record.key, headers=headers
        )
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            error.reason,
        )
