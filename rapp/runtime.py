"""Wiring: build every stage from ``Settings`` and run the loop, one closed ROP at a time.

    Kafka, VES, files -> PmBatch -> KPIs -> CellState -(ROP closed)-> Decider (``rapp.decide``:
    forecasts and incidents -> decisions -> verdicts -> journal -> enactment workflows)

Offsets are committed once a batch is in state (or dead-lettered). History ROPs (a backlog being
read) only fill state; the loop decides on the newest closed ROP once it has caught up, because a
decision about a ROP an hour old would act on a network that has already moved on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pandas as pd
from aiokafka.errors import KafkaConnectionError

from rapp import intake
from rapp.alarms import AlarmBook
from rapp.config import Settings
from rapp.decide import Decider
from rapp.domain import Decision, PmBatch
from rapp.enact import launch, shutdown
from rapp.enact.a1 import is_transient
from rapp.enact.nephio import PublishError, redact_url
from rapp.enact.registration import Registration
from rapp.metrics import LoopMetrics
from rapp.peers import until_up
from rapp.state import CellState
from rapp.store import Journal
from rapp.telemetry import (
    DecodePool,
    KafkaPmSource,
    SourceBatch,
    derive_kpis,
    load_counter_map,
)
from rapp.telemetry.archive import TelemetryArchive
from rapp.telemetry.mapping import DEFAULT_TABLE

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLEARED_KEPT = timedelta(days=1)


async def _first_failure(main: asyncio.Task[None], side: asyncio.Task[None]) -> None:
    """Wait for ``main``; ``side`` failing first fails it (``side`` may also just end)."""
    pending: set[asyncio.Task[None]] = {main, side}
    while main in pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    main.result()


def _week(granularity_s: int) -> int:
    """ROPs in a week and one more: the least history held, so a forecaster promoted later
    finds its weekly lags already there (more is held if the models in use read more)."""
    return 7 * 86_400 // int(granularity_s) + 1


class Runtime:
    """The stages of the loop, built once from settings; ``run`` drives them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.store.url)
        self.metrics = LoopMetrics()
        self.state: CellState | None = None
        t = settings.telemetry
        self.archive = (
            TelemetryArchive(t.archive_dir, keep_days=t.archive_days) if t.archive_dir else None
        )
        self.alarms = AlarmBook()
        # Cleared alarms of the last day too: a raise delivered after its clear stays cleared.
        self.alarms.apply(self.journal.alarms(cleared_since=datetime.now(UTC) - _CLEARED_KEPT))
        self.decider = Decider(
            settings, journal=self.journal, metrics=self.metrics, alarms=self.alarms
        )
        self.decode_pool = DecodePool()
        # The shipped table first: operators' tables extend it (later files win per name).
        self.counter_map = load_counter_map(DEFAULT_TABLE, *settings.telemetry.counter_maps)
        self._accepting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ics_registered = False
        self._source: KafkaPmSource | None = None
        self._warned_granularities: set[int] = set()
        self._checks = {"enactor": False, "nephio_repo": False, "a1pms": False, "kafka": False}
        self.registration = Registration(settings.a1, self.decider.policies_in_force)

    def readiness(self) -> Mapping[str, bool]:
        return {**self._checks, "journal": self.journal.ping()}

    async def run(self) -> None:
        """Consume, decide and enact until cancelled.

        Peers that are down at start (the deployment repository, Kafka) are waited for with
        backoff, and readiness says which one; a configuration error stops the process at once.
        """
        await asyncio.to_thread(launch, self.settings.enact)
        self._checks["enactor"] = True
        nephio = self.settings.nephio
        packages = (
            f"Porch at {redact_url(nephio.porch.url)}"
            if nephio.writer == "porch"
            else f"Nephio repository {redact_url(nephio.remote)}"
        )
        await until_up(
            packages,
            self.decider.read_capacity,
            lambda exc: isinstance(exc, PublishError) and exc.transient,
        )
        self._checks["nephio_repo"] = True
        await self.decider.recover()
        # Beside the loop, not before it: while the A1-PMS is away, decisions wait durably in
        # their workflows, and readiness says what is missing. Not `spawn`ed: an A1-PMS that
        # refuses the registration for good (401, 400) stops the process like a refused Kafka.
        registering = asyncio.create_task(self._stay_registered(), name="A1-PMS registration")
        self._tasks.add(registering)
        await intake.resume_fetches(self)
        if self.settings.ics.enabled:
            await until_up(
                f"ICS at {self.settings.ics.url}",
                lambda: intake.register_ics(self.settings),
                intake.ics_transient,
            )
            self._ics_registered = True
        self.spawn(
            self.decider.policy.watch(self.settings.policy.reload_every_s), name="policy reload"
        )
        if self.settings.watch.directory is not None:
            self.spawn(intake.watch_directory(self), name="watch")
        consuming = asyncio.create_task(self._consume_kafka(), name="Kafka")
        try:
            await _first_failure(consuming, registering)
        finally:
            consuming.cancel()
            await asyncio.gather(consuming, return_exceptions=True)

    async def _stay_registered(self) -> None:
        await until_up(
            f"A1-PMS at {redact_url(self.settings.a1.url)}",
            self.registration.register,
            is_transient,
        )
        self._checks["a1pms"] = True
        await self.registration.keep_alive()

    async def _consume_kafka(self) -> None:
        k = self.settings.kafka
        source = await until_up(
            f"Kafka at {k.bootstrap}",
            self._open_source,
            lambda exc: isinstance(exc, KafkaConnectionError | OSError),
        )
        try:
            self._checks["kafka"] = True
            self._source = source
            topics = ", ".join([k.topic, *k.topics])
            log.info("consuming %s from %s as group %s", topics, k.bootstrap, k.group_id)
            async for batch in source.batches():
                await self.handle(batch)
        finally:
            self._checks["kafka"] = False
            self._source = None
            await source.stop()

    def spawn(self, work: Awaitable[object], *, name: str) -> None:
        """Run ``work`` beside the loop; its failure is logged, and it ends with the runtime."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_source(self) -> KafkaPmSource:
        # A fresh source per attempt: aiokafka clients cannot be restarted once stopped.
        k = self.settings.kafka
        source = KafkaPmSource(
            bootstrap=k.bootstrap,
            topics=[k.topic, *k.topics],
            decoders=intake.kafka_decoders(self.settings, self.decode_pool),
            max_payload_bytes=k.max_payload_bytes,
            group_id=k.group_id,
            dlq_topic=k.dlq_topic,
            client_id=k.client_id,
            max_records=k.max_records,
            poll_timeout_ms=k.poll_timeout_ms,
            **k.security(),
        )
        await source.start()
        return source

    async def handle(self, source_batch: SourceBatch) -> list[Decision]:
        """One Kafka poll: into state, commit, and decide if a ROP closed and we are caught up."""
        self.metrics.records.inc(source_batch.records)
        self.metrics.dead_letters.inc(source_batch.dead_lettered)
        return await self.accept(
            source_batch.batch, live=source_batch.caught_up, then=source_batch.commit
        )

    async def accept(
        self,
        batch: PmBatch,
        *,
        live: bool,
        then: Callable[[], Awaitable[object]] | None = None,
    ) -> list[Decision]:
        """Take PM in from any source; decide on the newest ROP it closed if the data is live.

        ``then`` runs once the batch is in state (e.g. a Kafka commit), before deciding. One
        batch at a time: sources run concurrently, the loop's state is not shared-safe.
        """
        async with self._accepting:
            # In a thread: mapping, KPIs and state for a large ROP take long enough to stall
            # the API and Kafka heartbeats; the lock keeps state to one writer.
            closed = await asyncio.to_thread(self.ingest, batch)
            if then is not None:
                await then()
            self.metrics.rops_closed.inc(len(closed))
            if not (closed and live):
                return []
            return await self.decide(closed[-1])

    async def offer(self, batch: PmBatch) -> None:
        """Take PM in from a push source (the VES listener, a watched or fetched file).

        Returns once the batch is in state, so the sender can be answered at once; a ROP it
        closed is decided in the background, and only while the Kafka stream is caught up: a
        pushed ROP must not trigger a decision on state that a backlog is still filling.
        """
        async with self._accepting:
            closed = await asyncio.to_thread(self.ingest, batch)
        self.metrics.rops_closed.inc(len(closed))
        if closed and await self.caught_up():
            self.spawn(self._decide_alone(closed[-1]), name=f"decide {closed[-1]}")

    async def caught_up(self) -> bool:
        """Whether the Kafka stream has been read to its end (False before it is consumed)."""
        source = self._source
        return source is not None and await source.caught_up()

    async def _decide_alone(self, rop: pd.Timestamp) -> None:
        async with self._accepting:  # state has one user at a time
            await self.decide(rop)

    async def decide(self, rop: pd.Timestamp) -> list[Decision]:
        """Decide on the ROP ending at ``rop`` from the state as it is (see ``Decider``)."""
        assert self.state is not None
        with self.metrics.decide_seconds.time():
            return await self.decider.decide(self.state, rop)

    def ingest(self, batch: PmBatch) -> list[pd.Timestamp]:
        """Map counters, derive KPIs and store them; returns the ROPs this closed.

        The loop models one ROP length, the first one it sees (the most common in that batch):
        rows of another granularity (a node on 5-min ROPs beside 15-min ones) are counted and
        skipped, not bucketed into ROPs of the wrong length."""
        if not len(batch):
            return []
        batch = self.counter_map.apply(batch)
        self.metrics.pm_rows.inc(len(batch))
        grans = batch.frame["granularity_s"]
        if self.state is None:
            self.state = CellState(
                [self.settings.planner.kpi],
                granularity_s=int(grans.mode().iloc[0]),
                retention=max(
                    2,
                    _week(grans.mode().iloc[0]),
                    self.decider.forecaster.history_rops(),
                ),
            )
        other = grans.to_numpy() != self.state.granularity_s
        if other.any():
            self._skip_granularities(grans[other])
            batch = PmBatch(batch.frame[~other].reset_index(drop=True))
        before = self.state.skipped.copy()
        kpis = derive_kpis(batch)
        closed = self.state.ingest(kpis)
        self.decider.watch.ingest(kpis, self.state.granularity_s)
        self._archive(kpis)
        for reason, rows in (self.state.skipped - before).items():
            self.metrics.pm_rows_skipped.labels(reason).inc(rows)
        self.metrics.cells.set(len(self.state.cells))
        return closed

    def _archive(self, kpis: pd.DataFrame) -> None:
        if self.archive is None or self.state is None or self.state.latest_rop is None:
            return
        # Rows past the state's newest ROP are a jump it holds back (often one bad clock):
        # not written, so a junk year-2099 row never reaches a training set.
        ends = kpis.index.get_level_values("period_end")
        try:
            self.archive.write(kpis[ends <= self.state.latest_rop])
        except OSError as exc:
            # The archive serves retraining, not the loop: a full disk must not stop decisions.
            log.error("telemetry archive %s not written: %s", self.archive.root, exc)

    def _skip_granularities(self, grans: pd.Series) -> None:
        for gran, rows in grans.value_counts().items():
            self.metrics.pm_rows_skipped.labels("granularity").inc(rows)
            if gran not in self._warned_granularities:
                self._warned_granularities.add(gran)
                log.warning(
                    "skipping PM of %ss granularity: the loop models %ss ROPs (counted in "
                    'rapp_pm_rows_skipped_total{reason="granularity"}; warned once)',
                    gran,
                    self.state.granularity_s if self.state else "?",
                )

    async def drain(self, timeout_s: float) -> None:
        """Let the batch in hand be decided and its offsets committed, then keep state so no
        other starts: a stop then leaves no half-decided ROP for the next start to redo.
        Enactments already started are durable and resume at the next start."""
        try:
            await asyncio.wait_for(self._accepting.acquire(), timeout_s)
        except TimeoutError:
            log.warning(
                "stopping mid-batch after %.0f s: its records are read again at the next start",
                timeout_s,
            )

    async def aclose(self) -> None:
        """Stop side tasks, leave ICS and the A1-PMS (unless told not to), shut DBOS down,
        close the journal."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ics_registered and self.settings.ics.delete_on_stop:
            await intake.deregister_ics(self.settings)
        await asyncio.to_thread(self.decode_pool.close)
        if self._checks["enactor"]:
            await asyncio.to_thread(shutdown)
        # After the enactor stops: no enactment may write a policy the deletion would miss.
        if self._checks["a1pms"] and self.settings.a1.deregister_on_stop:
            await self.registration.deregister()
        await self.decider.enactor.aclose()
        self.journal.close()
