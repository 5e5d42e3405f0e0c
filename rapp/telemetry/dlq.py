"""Replay dead letters: put dead-lettered records back on the topic they came from.

A record on the dead-letter topic carries its original key, value and headers plus the
``rapp-dlq-reason`` and ``rapp-source-topic/partition/offset`` headers ``KafkaPmSource`` added.
``replay`` produces the original key, value and headers (the ``rapp-*`` dead-letter headers
stripped) to ``target_topic``, or to each record's ``rapp-source-topic``, once the decoder is
fixed or the sender has been.

Progress is the replay group's committed offsets on the dead-letter topic: each poll's records
are produced (acks=all) before its offsets are committed, so an interrupted replay resumes
where it stopped, and a finished one is not repeated (at-least-once: a crash between produce
and commit re-sends that one poll). A replay reads only up to the end offsets it saw when it
started, so records dead-lettered again while it runs (still bad) wait for the next replay
instead of looping. A record without a source-topic header (and no ``target_topic``) cannot be
routed: it is counted in ``ReplayReport.unroutable`` and passed over (committed), and stays on
the dead-letter topic for a replay with an explicit ``target_topic`` under a fresh group.

The partitions of the dead-letter topic are assigned, not subscribed: no group join (and none
of tansu's join delay), and a second replay running at once with the same group would send
the same records twice, so do not run two.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from rapp.telemetry.kafka import DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC

__all__ = ["DLQ_HEADERS", "ReplayReport", "replay"]

log = logging.getLogger(__name__)

DLQ_HEADERS = frozenset({DLQ_REASON, DLQ_TOPIC, DLQ_PARTITION, DLQ_OFFSET})
"""The headers ``KafkaPmSource`` adds when it dead-letters; never replayed."""
_IDLE_POLLS = 5


@dataclass
class ReplayReport:
    """What a replay did (or, with ``dry_run``, would have done)."""

    dlq_topic: str
    dry_run: bool
    read: int = 0
    """Dead-letter records read (at most ``limit``)."""
    replayed: int = 0
    """Records produced to their target (with ``dry_run``: that would have been)."""
    unroutable: list[str] = field(default_factory=list)
    """``topic[partition]@offset`` of records with no target topic; passed over."""
    by_reason: Counter[str] = field(default_factory=Counter)
    """Records read, per ``rapp-dlq-reason`` (``"(no reason)"`` when absent)."""
    by_target: Counter[str] = field(default_factory=Counter)
    """Records replayed, per target topic."""
    remaining: int = 0
    """Records left on the dead-letter topic after the replay (beyond ``limit``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.dlq_topic,
            "dry_run": self.dry_run,
            "read": self.read,
            "replayed": self.replayed,
            "unroutable": list(self.unroutable),
            "by_reason": dict(self.by_reason),
            "by_target": dict(self.by_target),
            "remaining": self.remaining,
        }


async def replay(
    *,
    bootstrap: str,
    dlq_topic: str,
    target_topic: str | None = None,
    group_id: str = "rapp-dlq-replay",
    limit: int | None = None,
    dry_run: bool = False,
    client_id: str = "rapp-dlq-replay",
    poll_timeout_ms: int = 1000,
    batch_size: int = 500,
    **security: Any,
) -> ReplayReport:
    """Re-produce dead-lettered records to their source topic (or ``target_topic``).

    ``limit`` caps the records read; ``dry_run`` reads and counts but neither produces nor
    commits, so a real replay afterwards sees the same records. ``security``: aiokafka kwargs
    (security_protocol, sasl_*, ssl_context) for both clients. A topic that does not exist is
    an empty replay.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    report = ReplayReport(dlq_topic=dlq_topic, dry_run=dry_run)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security,
    )
    producer = (
        None
        if dry_run
        else AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=False,
            **security,
        )
    )
    await consumer.start()
    try:
        if producer is not None:
            await producer.start()
        parts = await _partitions(consumer, dlq_topic)
        if not parts:
            log.warning("dead-letter topic %s does not exist or has no partitions", dlq_topic)
            return report
        tps = [TopicPartition(dlq_topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        idle = 0
        while limit is None or report.read < limit:
            positions = {tp: await consumer.position(tp) for tp in tps}
            open_tps = [tp for tp in tps if positions[tp] < ends[tp]]
            if not open_tps:
                break
            want = batch_size if limit is None else min(batch_size, limit - report.read)
            polled = await consumer.getmany(*open_tps, timeout_ms=poll_timeout_ms, max_records=want)
            records = [
                r
                for tp, part in polled.items()
                for r in part
                if r.offset < ends[tp]  # produced after the replay started: next time
            ]
            if not records:
                idle += 1
                if idle >= _IDLE_POLLS:
                    log.warning("no progress reading %s after %d polls; stopping", tps, idle)
                    break
                continue
            idle = 0
            await _replay_poll(records, report, producer, target_topic)
            last: dict[TopicPartition, int] = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                last[tp] = max(last.get(tp, -1), r.offset)
            if dry_run:  # nothing committed: move on by position only
                for tp, offset in last.items():
                    consumer.seek(tp, offset + 1)
            else:
                await consumer.commit({tp: OffsetAndMetadata(o + 1, "") for tp, o in last.items()})
        for tp in tps:
            report.remaining += max(0, ends[tp] - await consumer.position(tp))
    finally:
        try:
            await consumer.stop()
        finally:
            if producer is not None:
                await producer.stop()
    log.info(
        "%s %d of %d dead letters from %s (%d unroutable, %d remaining)",
        "would replay" if dry_run else "replayed",
        report.replayed,
        report.read,
        dlq_topic,
        len(report.unroutable),
        report.remaining,
    )
    return report


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    parts = consumer.partitions_for_topic(topic)
    if parts:
        return set(parts)
    if topic not in await consumer.topics():  # refreshes the metadata
        return set()
    return set(consumer.partitions_for_topic(topic) or ())


async def _replay_poll(
    records: list[ConsumerRecord[Any, Any]],
    report: ReplayReport,
    producer: AIOKafkaProducer | None,
    target_topic: str | None,
) -> None:
    """Produce one poll's records (all acknowledged before returning) and count them."""
    sends: list[asyncio.Future[Any]] = []
    for record in records:
        headers = list(record.headers or ())
        reason = _header(headers, DLQ_REASON)
        report.read += 1
        report.by_reason[reason.decode(errors="replace") if reason else "(no reason)"] += 1
        source = _header(headers, DLQ_TOPIC)
        target = target_topic or (source.decode(errors="replace") if source else None)
        if not target:
            where = f"{record.topic}[{record.partition}]@{record.offset}"
            log.warning("%s has no %s header and no target topic was given", where, DLQ_TOPIC)
            report.unroutable.append(where)
            continue
        report.replayed += 1
        report.by_target[target] += 1
        if producer is not None:
            kept = [
                (k, v) for k, v in headers if k not in DLQ_HEADERS and not k.startswith("rapp-dlq-")
            ]
            sends.append(
                await producer.send(target, value=record.value, key=record.key, headers=kept)
            )
    if sends:
        await asyncio.gather(*sends)


def _header(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None
