"""Wiring: build every stage from ``Settings`` and run the loop, one closed ROP at a time.

    Kafka -> PmBatch -> KPIs -> CellState -(ROP closed)-> Forecast -> Decisions -> Verdicts
          -> journal -> enactment workflows (A1-PMS, Nephio repo)

Offsets are committed once a batch is in state (or dead-lettered). History ROPs (a backlog being
read) only fill state; the loop decides on the newest closed ROP once it has caught up, because a
decision about a ROP an hour old would act on a network that has already moved on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pandas as pd
from aiokafka.errors import KafkaConnectionError

from rapp import intake
from rapp.alarms import AlarmBook
from rapp.anomalies import AnomalyWatch
from rapp.config import Settings
from rapp.domain import Action, Decision, Outcome, OutcomeState, PmBatch, Verdict
from rapp.enact import Enactor, launch, shutdown
from rapp.enact.nephio import PublishError, redact_url
from rapp.healing import Healer
from rapp.metrics import LoopMetrics
from rapp.ml import RopForecaster, SeasonalBaselineForecaster
from rapp.ml.live import LiveModel
from rapp.ml.registry import Registry
from rapp.peers import until_up
from rapp.planner import Planner, Topology
from rapp.policy import RegoPolicyEngine
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


def _change(decision: Decision) -> str:
    if decision.action.scales:
        return f"{decision.capacity_from}->{decision.capacity_to}"
    return f"{len(decision.cells)} cells ({', '.join(decision.evidence.get('kinds', []))})"


def _week(granularity_s: int) -> int:
    """ROPs in a week and one more: what a trained forecaster's weekly features read."""
    return 7 * 86_400 // int(granularity_s) + 1


class Runtime:
    """The stages of the loop, built once from settings; ``run`` drives them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.store.url)
        self.policy = RegoPolicyEngine.from_directory(
            settings.policy.directory, query=settings.policy.query
        )
        p = settings.planner
        self.planner = Planner(
            Topology(settings.topology.target_pattern, settings.topology.target_template),
            ladder=p.ladder,
            default_capacity=p.default_capacity,
            high=p.high,
            low=p.low,
            quantile=p.quantile,
            cooldown_rops=p.cooldown_rops,
        )
        h = settings.healing
        self.healer = (
            Healer(
                Topology(h.target_pattern, h.target_template),
                min_rops=h.min_rops,
                cooldown_rops=h.cooldown_rops,
            )
            if h.enabled
            else None
        )
        f, m = settings.forecast, settings.models
        registry = Registry(m.root)
        self.watch = AnomalyWatch(
            LiveModel(registry, m.detector, shadow=m.detector_shadow, check_every=m.check_every_s)
        )
        self.forecaster = RopForecaster(
            SeasonalBaselineForecaster(
                season_length=f.season,
                n_seasons=f.n_seasons,
                horizon=f.horizon,
                quantiles=tuple(sorted({0.5, p.quantile})),
            ),
            kpi=p.kpi,
            fit_window=f.fit_window,
            refit_every=f.refit_every,
            live=LiveModel(registry, m.forecaster, shadow=m.shadow, check_every=m.check_every_s),
            quantile=p.quantile,
        )
        self.enactor = Enactor(a1=settings.a1, nephio=settings.nephio, journal=self.journal)
        self.metrics = LoopMetrics()
        self.state: CellState | None = None
        self.capacity: dict[str, str] = {}
        t = settings.telemetry
        self.archive = (
            TelemetryArchive(t.archive_dir, keep_days=t.archive_days) if t.archive_dir else None
        )
        self.alarms = AlarmBook()
        # Cleared alarms of the last day too: a raise delivered after its clear stays cleared.
        self.alarms.apply(self.journal.alarms(cleared_since=datetime.now(UTC) - _CLEARED_KEPT))
        self.decode_pool = DecodePool()
        # The shipped table first: operators' tables extend it (later files win per name).
        self.counter_map = load_counter_map(DEFAULT_TABLE, *settings.telemetry.counter_maps)
        self._in_flight: dict[str, Decision] = {}
        self._accepting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ics_registered = False
        self._source: KafkaPmSource | None = None
        self._warned_granularities: set[int] = set()
        self._checks = {"enactor": False, "nephio_repo": False, "kafka": False}

    def readiness(self) -> Mapping[str, bool]:
        return {**self._checks, "journal": self.journal.ping()}

    async def run(self) -> None:
        """Consume, decide and enact until cancelled.

        Peers that are down at start (the deployment repository, Kafka) are waited for with
        backoff, and readiness says which one; a configuration error stops the process at once.
        """
        await asyncio.to_thread(launch, self.settings.enact)
        self._checks["enactor"] = True
        self.capacity = await until_up(
            f"Nephio repository {redact_url(self.settings.nephio.remote)}",
            lambda: asyncio.to_thread(self.enactor.capacities),
            lambda exc: isinstance(exc, PublishError) and exc.transient,
        )
        self._checks["nephio_repo"] = True
        latest = await asyncio.to_thread(self.journal.latest_by_target)
        self.planner.recall(d for d in latest if d.action.scales)
        if self.healer is not None:
            self.healer.recall(latest)
        await self._resume()
        await intake.resume_fetches(self)
        if self.settings.ics.enabled:
            await until_up(
                f"ICS at {self.settings.ics.url}",
                lambda: intake.register_ics(self.settings),
                intake.ics_transient,
            )
            self._ics_registered = True
        if self.settings.watch.directory is not None:
            self.spawn(intake.watch_directory(self), name="watch")
        await self._consume_kafka()

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
            with self.metrics.decide_seconds.time():
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
            with self.metrics.decide_seconds.time():
                await self.decide(rop)

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
                retention=max(self.settings.forecast.fit_window, 2, _week(grans.mode().iloc[0])),
            )
        other = grans.to_numpy() != self.state.granularity_s
        if other.any():
            self._skip_granularities(grans[other])
            batch = PmBatch(batch.frame[~other].reset_index(drop=True))
        before = self.state.skipped.copy()
        kpis = derive_kpis(batch)
        closed = self.state.ingest(kpis)
        self.watch.ingest(kpis, self.state.granularity_s)
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

    async def _shadow(self, rop: pd.Timestamp, planner: Planner, served: list[Decision]) -> None:
        """Plan on the shadow challenger's forecast with ``planner`` (a copy: the shadow must not
        move the champion's cool-down clocks) and log what it would have done differently;
        nothing it decides is journalled or enacted."""
        assert self.state is not None
        forecast = await asyncio.to_thread(self.forecaster.shadow, self.state, rop)
        if forecast is None:
            return
        decisions = planner.plan(forecast, self.capacity)
        ours = {(d.target, d.action) for d in served}
        theirs = {(d.target, d.action) for d in decisions}
        for d in decisions:
            self.metrics.shadow_decisions.labels(d.action.value).inc()
        log.info(
            "shadow %s at %s: %d decision(s), %d the champion did not make, %d it did not make",
            forecast.model,
            rop.isoformat(),
            len(decisions),
            len(theirs - ours),
            len(ours - theirs),
        )

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

    async def decide(self, rop: pd.Timestamp) -> list[Decision]:
        """Heal and plan, gate, journal and start enacting, for one closed ROP."""
        assert self.state is not None
        await self._settle()
        decisions = await self._heal(rop)
        forecast = await asyncio.to_thread(self.forecaster.forecast, self.state, rop)
        if forecast is not None:
            for feature, value in (
                await asyncio.to_thread(self.forecaster.drift, self.state, rop)
            ).items():
                self.metrics.model_drift.labels(forecast.model, feature).set(value)
            # The shadow plans from the cool-down clocks as they were before this ROP's decisions.
            before = copy.deepcopy(self.planner) if self.forecaster.has_shadow else None
            planned = self.planner.plan(forecast, self.capacity)
            if before is not None:
                await self._shadow(rop, before, planned)
            decisions += planned
        if not decisions:
            return []
        verdicts = self.policy.evaluate(decisions, now=datetime.now(UTC))
        await asyncio.to_thread(self._journal, decisions, verdicts)
        for decision, verdict in zip(decisions, verdicts, strict=True):
            self.metrics.decisions.labels(
                decision.action.value, "allow" if verdict.allow else "deny"
            ).inc()
            log.info(
                "decision %s %s %s %s: %s (%s)",
                decision.id,
                decision.target,
                decision.action.value,
                _change(decision),
                "allow" if verdict.allow else "deny",
                "; ".join(verdict.reasons),
            )
            if verdict.allow:
                await self._enact(decision)
        return decisions

    async def _heal(self, rop: pd.Timestamp) -> list[Decision]:
        """The incidents open at ``rop`` (for the API and metrics) and the heal decisions."""
        incidents = await asyncio.to_thread(self.watch.check, rop, self.alarms.active())
        self.metrics.incidents.clear()
        for kind, n in Counter(i.kind.value for i in incidents).items():
            self.metrics.incidents.labels(kind).set(n)
        if self.healer is None:
            return []
        assert self.state is not None
        step = pd.Timedelta(seconds=self.state.granularity_s)
        live = self.watch.live
        if self.watch.shadow_incidents:
            # Planned on a copy, like the forecaster's shadow: the champion's clocks stay put.
            shadow = copy.deepcopy(self.healer).plan(
                self.watch.shadow_incidents, rop, step, model=f"{live.name} {live.shadow_version}"
            )
            for _ in shadow:
                self.metrics.shadow_decisions.labels(Action.HEAL.value).inc()
        if not incidents:
            return []
        return self.healer.plan(incidents, rop, step, model=f"{live.name} {live.version}")

    async def _enact(self, decision: Decision) -> None:
        # The planner sees the intended capacity at once; _settle corrects it if the enactment
        # does not land.
        if decision.action.scales:
            self.capacity[decision.target] = decision.capacity_to
        self._in_flight[decision.id] = decision
        await self.enactor.start(decision)

    async def _settle(self) -> None:
        """Forget finished enactments; re-read the capacity of targets whose change did not land."""
        if not self._in_flight:
            return
        outcomes = await asyncio.to_thread(self.journal.outcomes, list(self._in_flight))
        for decision_id, outcome in outcomes.items():
            if outcome.state is OutcomeState.PENDING:
                continue
            decision = self._in_flight.pop(decision_id)
            if decision.action.scales and outcome.state is not OutcomeState.ENACTED:
                self.capacity[decision.target] = await asyncio.to_thread(
                    self.enactor.capacity, decision.target, decision.capacity_from
                )

    async def _resume(self) -> None:
        """Re-queue decisions journalled as pending whose workflow may never have started
        (a crash between the journal and the queue); the decision id makes it idempotent."""
        pending = await asyncio.to_thread(
            self.journal.decisions, limit=10_000, states=[OutcomeState.PENDING]
        )
        for row in pending:
            decision = Decision.from_dict(row)
            self._in_flight[decision.id] = decision
            await self.enactor.start(decision)
        if pending:
            log.info("resumed %d pending enactments", len(pending))

    def _journal(self, decisions: list[Decision], verdicts: list[Verdict]) -> None:
        for decision, verdict in zip(decisions, verdicts, strict=True):
            self.journal.record_decision(decision)
            self.journal.record_verdict(verdict)
            if verdict.allow:
                outcome = Outcome(decision.id, OutcomeState.PENDING, detail="enactment started")
            else:
                outcome = Outcome(
                    decision.id, OutcomeState.DENIED, detail="; ".join(verdict.reasons)
                )
            if self.journal.outcome(decision.id) is None:
                self.journal.record_outcome(outcome)

    async def aclose(self) -> None:
        """Stop side tasks, deregister from ICS, shut DBOS down, close the journal."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ics_registered:
            await intake.deregister_ics(self.settings)
        await asyncio.to_thread(self.decode_pool.close)
        if self._checks["enactor"]:
            await asyncio.to_thread(shutdown)
        self.journal.close()
