"""The dead-letter topic: how a bad record is put there, and what happens when it cannot be.

A record goes to the dead-letter topic as it came (value, key, headers) plus headers that say
why and where from (``DLQ_*``; ``rapp.telemetry.dlq`` reads them back to replay). The produce is
acks=all and retried with backoff; when every try fails the record would be lost, so the caller
gets ``DeadLetterError`` and must stop instead of committing past it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential

from rapp.telemetry.ranpm import DecodeError

DLQ_REASON = "rapp-dlq-reason"
DLQ_TOPIC = "rapp-source-topic"
DLQ_PARTITION = "rapp-source-partition"
DLQ_OFFSET = "rapp-source-offset"
_DLQ_MAX_BACKOFF_S = 5.0

# the source's logger: operators (and tests) set the level of ``rapp.telemetry.kafka``
log = logging.getLogger("rapp.telemetry.kafka")


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


def dead_letter_producer(
    *, bootstrap: str, client_id: str, timeout_ms: int, **security: Any
) -> AIOKafkaProducer:
    """A producer for the dead-letter topic: acks=all, so that a record is durably there before
    its batch is committed. No idempotence: the test broker (tansu) cannot do it."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=f"{client_id}-dlq",
        acks="all",
        enable_idempotence=False,
        request_timeout_ms=timeout_ms,
        **security,
    )


async def dead_letter(
    producer: AIOKafkaProducer,
    dlq_topic: str,
    record: ConsumerRecord[Any, Any],
    error: DecodeError,
    *,
    attempts: int,
    backoff_s: float,
) -> None:
    """Put ``record`` on ``dlq_topic`` with its reason and origin in the headers.

    Tried ``attempts`` times with exponential backoff from ``backoff_s`` (doubling, at most 5 s);
    then ``DeadLetterError``.
    """
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
            dlq_topic,
            state.attempt_number,
            attempts,
            exc,
        )

    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=backoff_s, max=_DLQ_MAX_BACKOFF_S),
            after=failed,
            reraise=True,
        ):
            with attempt:
                await producer.send_and_wait(
                    dlq_topic, value=record.value, key=record.key, headers=headers
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
