"""Where telemetry comes in: Kafka topics, the VES REST listener, a watched directory, and the
ICS info-job that asks the Non-RT RIC to deliver PM to Kafka in the first place.

Every path ends in the same state: Kafka through ``Runtime.handle`` (which commits once the
batch is in state), the push sources through ``Runtime.offer`` (which returns once it is, so the
sender is answered before any decision, and decides only while Kafka is caught up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from rapp.config import Settings
from rapp.domain import FileReady, PmBatch
from rapp.ric import IcsClient, IcsError, pm_job
from rapp.telemetry import (
    DecodeError,
    DirectorySource,
    VesBatch,
    decode_any,
    decode_file,
    fetch_file,
)
from rapp.telemetry.pool import DecodePool

if TYPE_CHECKING:
    from rapp.runtime import Runtime

log = logging.getLogger(__name__)


def decode_sniffed(payloads: Sequence[bytes]) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
    """Kafka decoder for topics of any PM format: each record's format is sniffed."""
    batches, failures = [], []
    for index, payload in enumerate(payloads):
        try:
            decoded = decode_any(payload)
        except DecodeError as exc:
            failures.append((index, exc))
            continue
        if decoded.alarms or decoded.files:
            # Not PM: committing it would drop it. Dead-lettered with the reason, it can be
            # replayed to the VES listener's topic mapping once there is one.
            failures.append(
                (
                    index,
                    DecodeError(
                        f"{len(decoded.alarms)} alarm(s) and {len(decoded.files)} file-ready "
                        "event(s) on a PM topic: send FM and notifications to the VES listener"
                    ),
                )
            )
            continue
        batches.append(decoded.pm)
    return PmBatch.concat(batches), failures


def kafka_decoders(settings: Settings, pool: DecodePool) -> dict[str, Callable[..., object]]:
    """The ranpm decoder for the main topic (on both cores when a poll is large: a backlog),
    format sniffing for the others."""
    return {settings.kafka.topic: pool.decode} | {t: decode_sniffed for t in settings.kafka.topics}


def ves_sink(runtime: Runtime) -> Callable[[VesBatch], Awaitable[None]]:
    """What the VES listener hands each accepted event batch to."""

    async def sink(batch: VesBatch) -> None:
        if batch.alarms:
            runtime.alarms.apply(batch.alarms)
        if len(batch.pm):
            await runtime.offer(batch.pm)
        for ready in batch.files:
            # Fetching can take long: answer the sender now, ingest when the file is here.
            runtime.spawn(fetch_and_accept(runtime, ready), name=f"fetch {ready.url}")

    return sink


async def fetch_and_accept(runtime: Runtime, ready: FileReady) -> None:
    """Fetch a file named by a file-ready notification, decode it, and take it in."""
    try:
        payload = await fetch_file(ready)
        decoded = await asyncio.to_thread(decode_any, payload)
    except DecodeError as exc:
        log.error("file-ready %s from %s not ingested: %s", ready.url, ready.source, exc)
        return
    runtime.alarms.apply(decoded.alarms)
    await runtime.offer(decoded.pm)
    log.info("ingested %s (%d rows)", ready.url, len(decoded.pm))


async def watch_directory(runtime: Runtime) -> None:
    """Take in PM files as they land in the watched directory; failures go to its failed dir."""
    w = runtime.settings.watch
    assert w.directory is not None
    source = DirectorySource(
        w.directory,
        pattern=w.pattern,
        poll_interval=w.poll_interval,
        done_dir=w.done_dir,
        failed_dir=w.failed_dir,
        decoder=lambda path, max_bytes: decode_file(path, max_bytes=max_bytes).pm,
    )
    log.info("watching %s for %s", w.directory, w.pattern)
    async for file_batch in source.batches():
        await runtime.offer(file_batch.batch)
        await file_batch.done()


async def register_ics(settings: Settings) -> None:
    """Ask ICS for a PmData job delivering to our topic (idempotent: PUT by job id)."""
    i, k = settings.ics, settings.kafka
    job = pm_job(
        owner=i.owner,
        topic=k.topic,
        bootstrap=k.bootstrap,
        meas_types=i.meas_types,
        measured_obj_class=i.measured_obj_class,
        source_names=i.source_names,
    )
    async with IcsClient(i.url, timeout=i.timeout_s) as ics:
        result = await ics.put_job(i.job_id, job)
    log.info("ICS info-job %s %s at %s", i.job_id, result, i.url)


async def deregister_ics(settings: Settings) -> None:
    """Delete our info-job on a clean shutdown; a failure is logged, never raised."""
    i = settings.ics
    try:
        async with IcsClient(i.url, timeout=i.timeout_s) as ics:
            await ics.delete_job(i.job_id)
        log.info("ICS info-job %s deleted", i.job_id)
    except (IcsError, OSError) as exc:
        log.warning("could not delete ICS info-job %s: %s", i.job_id, exc)


def ics_transient(exc: BaseException) -> bool:
    """ICS is still starting (no answer, or 5xx): wait; a 4xx means our job is wrong: stop."""
    if isinstance(exc, IcsError):
        return exc.status is None or exc.status >= 500
    return isinstance(exc, OSError)
