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

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from rapp.config import Settings
from rapp.domain import Alarm, FileReady, PmBatch
from rapp.redact import redact_url
from rapp.ric import IcsClient, IcsError, configured_pm_job
from rapp.store import FileReadyState
from rapp.telemetry import (
    DecodeError,
    DirectorySource,
    VesBatch,
    decode_any,
    decode_file,
    fetch_file,
)
from rapp.telemetry.fetch import FetchError
from rapp.telemetry.pool import DecodePool
from rapp.telemetry.sniff import Decoded

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
        await take_alarms(runtime, batch.alarms)
        if len(batch.pm):
            await runtime.offer(batch.pm)
        for ready in batch.files:
            # Journalled before the sender is answered: a restart or a failed fetch loses
            # nothing. Fetching can take long, so the fetch itself runs after the answer.
            if await _take_on(runtime, ready):
                _spawn_fetch(runtime, ready)

    return sink


async def take_alarms(runtime: Runtime, alarms: Sequence[Alarm]) -> None:
    """Apply alarm events to the book and journal what changed before returning: a VES sender
    is answered only after that, and does not send an alarm twice."""
    changed = runtime.alarms.apply(alarms)
    if changed:
        await asyncio.to_thread(runtime.journal.record_alarms, changed)


async def fetch_and_accept(runtime: Runtime, ready: FileReady, *, recorded: bool = False) -> None:
    """Fetch a file named by a file-ready notification, decode it, and take it in.

    The notification is journalled as pending first (``recorded``: the caller did that, or it
    is resumed after a restart), unless its URL is already pending or done: a file announced
    twice is fetched once. Transient failures are retried with capped exponential backoff, up
    to ``ves.fetch_attempts`` in all (attempts before a restart count); a permanent failure or
    the last attempt marks it failed with the reason, which keeps it for an operator. A
    re-announcement of a failed file tries it again.
    """
    if not recorded and not await _take_on(runtime, ready):
        return
    shown = redact_url(ready.url)
    try:
        decoded = await _fetch_with_retries(runtime, ready)
        await take_alarms(runtime, decoded.alarms)
        await runtime.offer(decoded.pm)
    except DecodeError as exc:
        await _settle(runtime, ready, FileReadyState.FAILED, exc.reason)
        log.error("file-ready %s from %s not ingested: %s", shown, ready.source, exc.reason)
        return
    except Exception as exc:
        # A bug, not the file: keep the notification and its reason, let spawn log the trace.
        await _settle(runtime, ready, FileReadyState.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    await _settle(runtime, ready, FileReadyState.DONE)
    log.info("ingested %s (%d rows)", shown, len(decoded.pm))


async def resume_fetches(runtime: Runtime) -> int:
    """Fetch again what this replica had journalled as pending when it stopped, each through
    ``fetch_and_accept``; the number resumed. Call once at start, before the loop decides."""
    owner = runtime.settings.enact.executor_id
    pending = await asyncio.to_thread(runtime.journal.pending_file_ready, owner)
    for ready in pending:
        _spawn_fetch(runtime, ready)
    if pending:
        log.info("resuming %d pending file-ready fetches", len(pending))
    return len(pending)


def _spawn_fetch(runtime: Runtime, ready: FileReady) -> None:
    """Fetch a notification already journalled as pending, in the background."""
    runtime.spawn(
        fetch_and_accept(runtime, ready, recorded=True), name=f"fetch {redact_url(ready.url)}"
    )


async def _take_on(runtime: Runtime, ready: FileReady) -> bool:
    """Journal ``ready`` as pending; whether this caller is to fetch it."""
    owner = runtime.settings.enact.executor_id
    taken = await asyncio.to_thread(runtime.journal.record_file_ready, ready, owner)
    if taken:
        runtime.metrics.file_ready.labels(FileReadyState.PENDING.value).inc()
    else:
        log.info("file-ready %s already pending or done: not fetched again", redact_url(ready.url))
    return taken


async def _fetch_with_retries(runtime: Runtime, ready: FileReady) -> Decoded:
    v = runtime.settings.ves

    async def waiting(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, DecodeError) else str(exc)
        log.warning(
            "fetch of %s failed (attempt %d), again in %.1fs: %s",
            redact_url(ready.url),
            state.attempt_number,
            state.upcoming_sleep,
            reason,
        )
        # Still pending, but an operator sees why it is taking long.
        await asyncio.to_thread(
            runtime.journal.record_fetch_result, ready.url, FileReadyState.PENDING, reason
        )

    async for try_ in AsyncRetrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, FetchError) and exc.transient),
        # A backstop only: _fetch_once counts attempts in the journal (restarts included) and
        # turns the last transient failure into a final one, which is never retried.
        stop=stop_after_attempt(v.fetch_attempts),
        wait=wait_exponential(multiplier=v.fetch_backoff_s, max=v.fetch_backoff_max_s),
        before_sleep=waiting,
        reraise=True,
    ):
        with try_:
            return await _fetch_once(runtime, ready)
    raise AssertionError("unreachable: AsyncRetrying either returns or raises")


async def _fetch_once(runtime: Runtime, ready: FileReady) -> Decoded:
    """One attempt, counted in the journal before it starts; a transient failure on the last
    attempt allowed is final."""
    v = runtime.settings.ves
    attempt = await asyncio.to_thread(runtime.journal.record_fetch_attempt, ready.url)
    if attempt > v.fetch_attempts:  # the last one allowed was cut short (a crash or restart)
        raise FetchError(f"gave up: {attempt - 1} attempts made, the last one interrupted")
    try:
        payload = await fetch_file(
            ready,
            timeout=v.fetch_timeout_s,
            max_bytes=v.fetch_max_bytes,
            allow=v.fetch_allow_list(),
        )
    except FetchError as exc:
        if exc.transient and attempt >= v.fetch_attempts:
            raise FetchError(f"{exc.reason} (gave up after {attempt} attempts)") from None
        raise
    # The same limit for what the file may unzip to as for what may be downloaded.
    return await asyncio.to_thread(decode_any, payload, max_bytes=v.fetch_max_bytes)


async def _settle(
    runtime: Runtime, ready: FileReady, state: FileReadyState, reason: str = ""
) -> None:
    await asyncio.to_thread(runtime.journal.record_fetch_result, ready.url, state, reason)
    runtime.metrics.file_ready.labels(state.value).inc()


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
    job = configured_pm_job(i, topic=k.topic, bootstrap=k.bootstrap)
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
