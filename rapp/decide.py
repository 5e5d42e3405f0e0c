"""``Decider``: a closed ROP to gated, journalled decisions whose enactment has started.

    CellState -(ROP)-> RopForecaster -> Forecast -> Planner --+
    AnomalyWatch -> incidents (+ FM alarms) -> Healer --------+-> Rego verdicts -> journal
                                                                 -> enactment workflows

It holds what deciding needs between ROPs: the planner's and healer's clocks, the capacity each
NF is believed to have, and the enactments still in flight. Shadow challengers (forecaster or
detector) are planned on a copy of the planner or without recording in the healer: counted,
and logged where they differ from the champion, never enacted.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from rapp.alarms import AlarmBook
from rapp.anomalies import AnomalyWatch
from rapp.config import Settings
from rapp.conflicts import batch_context, resolve
from rapp.decision_log import log_entries
from rapp.domain import Action, Decision, Outcome, OutcomeState, Verdict
from rapp.enact import Enactor, a1_policy_for
from rapp.enact.a1 import A1Policy
from rapp.healing import Healer
from rapp.metrics import LoopMetrics
from rapp.ml import RopForecaster, SeasonalBaselineForecaster
from rapp.ml.live import LiveModel
from rapp.ml.registry import Registry
from rapp.planner import Planner, Topology
from rapp.policy.engine import Judge, failed_closed, rfc3339
from rapp.policy.gate import PolicyGate
from rapp.policy.loader import PolicySet
from rapp.policy.obligations import apply_obligations
from rapp.rollout import Rollout, Wave, rollback_of
from rapp.state import CellState
from rapp.store import Journal

log = logging.getLogger(__name__)


class Decider:
    """The deciding half of the loop, built once from settings."""

    def __init__(
        self, settings: Settings, *, journal: Journal, metrics: LoopMetrics, alarms: AlarmBook
    ) -> None:
        self.journal = journal
        self.metrics = metrics
        self.alarms = alarms
        ps = settings.policy
        self.policy = PolicyGate(
            ps.bundle or ps.directory,
            query=ps.query,
            on_reload=lambda r: metrics.policy_reloads.labels(
                "accepted" if r.accepted else "rejected"
            ).inc(),
            engine=_sidecar(ps.opa_url, ps.query, ps.opa_timeout_s) if ps.opa_url else None,
            timeout_s=ps.timeout_s,
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
                max_cells=h.max_cells,
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
        self.a1 = settings.a1
        self.enactor = Enactor(
            a1=settings.a1, nephio=settings.nephio, enact=settings.enact, journal=journal
        )
        self.mode = settings.enact.mode
        metrics.watch_breakers(self.enactor.breakers)
        r = settings.rollout
        self.rollout = (
            Rollout(
                min_wave=r.min_wave,
                canary_fraction=r.canary_fraction,
                canary_rops=r.canary_rops,
                kpis=r.kpis,
                tolerance=r.tolerance,
            )
            if r.enabled
            else None
        )
        self.capacity: dict[str, str] = {}
        self._in_flight: dict[str, Decision] = {}

    async def read_capacity(self) -> None:
        """The capacity of every NF package, from the deployment repository."""
        self.capacity = await asyncio.to_thread(self.enactor.capacities)

    async def decide(self, state: CellState, rop: pd.Timestamp) -> list[Decision]:
        """Heal and plan, gate, journal and start enacting, for the ROP ending at ``rop``."""
        await self._settle()
        await self._advance_rollout(state, rop)
        if self.mode == "shadow":
            await self.read_capacity()  # what really runs the network may have moved it
        decisions = await self._heal(state, rop)
        needed = self.forecaster.history_rops()
        if needed > state.retention:
            # A promoted model reads more history than is held: hold it from now on (the
            # seasonal baseline stands in until there is enough).
            log.info(
                "holding %d ROPs of history (was %d) for the forecaster", needed, state.retention
            )
            state.keep(needed)
        forecast = await asyncio.to_thread(self.forecaster.forecast, state, rop)
        if forecast is not None:
            for feature, value in (
                await asyncio.to_thread(self.forecaster.drift, state, rop)
            ).items():
                self.metrics.model_drift.labels(forecast.model, feature).set(value)
            # The shadow plans from the cool-down clocks as they were before this ROP's decisions.
            before = copy.deepcopy(self.planner) if self.forecaster.has_shadow else None
            planned = self.planner.plan(forecast, self.capacity)
            if before is not None:
                await self._shadow(state, rop, before, planned)
            decisions += planned
        if not decisions:
            return []
        decisions, conflicts = resolve(decisions)
        if conflicts:
            await asyncio.to_thread(self._journal_conflicts, conflicts)
        now = datetime.now(UTC)
        engine = self.policy.engine
        verdicts, context = await self.judge(decisions, now)
        logged = log_entries(
            decisions,
            verdicts,
            now=rfc3339(now),
            query=self.policy.query,
            labels={"engine": type(engine).__name__},
            context=context,
        )
        # What is journalled and enacted is the decision as the policy set allowed it.
        applied = [apply_obligations(d, v) for d, v in zip(decisions, verdicts, strict=True)]
        decisions, verdicts = [d for d, _ in applied], [v for _, v in applied]
        allowed = [d for d, v in zip(decisions, verdicts, strict=True) if v.allow]
        # Split before the journal: a held decision is journalled held, never pending, so a
        # crash before its canary is judged cannot release it unjudged.
        now = {d.id for d in (self.rollout.split(allowed, rop) if self.rollout else allowed)}
        held = {d.id for d in allowed} - now
        await asyncio.to_thread(self._journal, decisions, verdicts, logged, held)
        for decision, verdict in zip(decisions, verdicts, strict=True):
            self.metrics.decisions.labels(
                decision.action.value, "allow" if verdict.allow else "deny"
            ).inc()
            if (failure := failed_closed(verdict)) is not None:
                self.metrics.policy_failures.labels(failure).inc()
            log.info(
                "decision %s %s %s %s: %s (%s)",
                decision.id,
                decision.target,
                decision.action.value,
                decision.change,
                "allow" if verdict.allow else "deny",
                "; ".join(verdict.reasons),
            )
            if decision.action is Action.HEAL and self.healer is not None and not verdict.allow:
                self.healer.forget(decision)
        for decision in allowed:
            if decision.id in now:
                await self._enact(decision)
            else:
                # Held until its wave's canary is judged; the planner sees the intended
                # capacity meanwhile, so it does not decide the same change again.
                self.capacity[decision.target] = decision.capacity_to
        return decisions

    async def _advance_rollout(self, state: CellState, rop: pd.Timestamp) -> None:
        """Judge the canaries due: release their held decisions, or roll them back."""
        if self.rollout is None:
            return
        for wave in self.rollout.due(rop, pd.Timedelta(seconds=state.granularity_s)):
            judged = self.rollout.judge(wave, state, rop)
            log.info(
                "canary of %s: worse=%s (%s)", wave.rop.isoformat(), judged.worse, judged.reason
            )
            if judged.worse is False:
                for d in wave.held:
                    detail = f"released: the canary did not do worse ({judged.reason})"
                    await asyncio.to_thread(
                        self.journal.record_outcome,
                        Outcome(d.id, OutcomeState.PENDING, detail=detail),
                    )
                    await self._enact(d)
                continue
            why = "rolled back: the canary did worse" if judged.worse else "canary not judged"
            for d in wave.held:
                outcome = Outcome(d.id, OutcomeState.DENIED, detail=f"{why} ({judged.reason})")
                await asyncio.to_thread(self.journal.record_outcome, outcome)
                self.capacity[d.target] = await asyncio.to_thread(
                    self.enactor.capacity, d.target, d.capacity_from
                )
            if judged.worse:
                await self._roll_back(wave, rop, judged.reason)

    async def _roll_back(self, wave: Wave, rop: pd.Timestamp, reason: str) -> None:
        """Undo the canary's enacted changes, each by the opposite step, through the saga."""
        outcomes = await asyncio.to_thread(self.journal.outcomes, [d.id for d in wave.canary])
        for d in wave.canary:
            if outcomes.get(d.id) is None or outcomes[d.id].state is not OutcomeState.ENACTED:
                continue
            undo = rollback_of(d, rop, reason)
            verdict = Verdict(undo.id, True, (f"rollback of canary {d.id}: {reason}",), "rollout")
            await asyncio.to_thread(self._journal, [undo], [verdict], [])
            await self._enact(undo)

    async def judge(
        self, decisions: list[Decision], now: datetime
    ) -> tuple[list[Verdict], list[dict[str, Any]]]:
        """Verdicts, and the extra input each final one was given. Judged twice: first each
        on its own, then only the allowed ones, each told where it stands among them
        (``input.batch``), so a decision the set refuses anyway never takes a place that the
        blast radius counts."""
        context = await asyncio.to_thread(self._context, decisions, now)
        verdicts = await self._evaluate(decisions, now, context)
        allowed = [i for i, v in enumerate(verdicts) if v.allow]
        if allowed:
            ranked = batch_context(
                [decisions[i] for i in allowed], targets_known=len(set(self.capacity))
            )
            again = await self._evaluate(
                [decisions[i] for i in allowed],
                now,
                [{**context[i], **more} for i, more in zip(allowed, ranked, strict=True)],
            )
            for i, more, verdict in zip(allowed, ranked, again, strict=True):
                context[i], verdicts[i] = {**context[i], **more}, verdict
        return verdicts, context

    def _context(self, decisions: list[Decision], now: datetime) -> list[dict[str, Any]]:
        """What each decision's input carries besides itself: ``history``, its target's
        changes of the same kind (scaling or healing) allowed in the last hour and the ROP of
        the latest, for pace policies; and ``a1``, the A1 policy it would be enacted as, for
        the schema check."""
        lately = self.journal.recent_changes(
            {d.target for d in decisions}, now - timedelta(hours=1)
        )
        out = []
        for d in decisions:
            same = [
                c for c in lately[d.target] if c.id != d.id and c.action.scales == d.action.scales
            ]
            policy = a1_policy_for(d, self.a1)
            out.append(
                {
                    "history": {
                        "changes_last_hour": len(same),
                        "last_change": rfc3339(same[0].rop) if same else None,
                    },
                    "a1": {
                        "policy_type_id": policy.policy_type_id,
                        "policy_id": policy.policy_id,
                        "policy": policy.body,
                    },
                }
            )
        return out

    async def _evaluate(
        self, decisions: list[Decision], now: datetime, context: list[dict[str, Any]]
    ) -> list[Verdict]:
        if self.policy.engine.in_thread:  # a sidecar, or a deadline: the wait may be long
            return await asyncio.to_thread(
                self.policy.evaluate, decisions, now=now, context=context
            )
        # No deadline: the embedded engine is bound to this thread and answers in microseconds.
        return self.policy.evaluate(decisions, now=now, context=context)

    async def _heal(self, state: CellState, rop: pd.Timestamp) -> list[Decision]:
        """The incidents open at ``rop`` (for the API and metrics) and the heal decisions."""
        incidents = await asyncio.to_thread(self.watch.check, rop, self.alarms.active())
        self.metrics.incidents.clear()
        for kind, n in Counter(i.kind.value for i in incidents).items():
            self.metrics.incidents.labels(kind).set(n)
        if self.healer is None:
            return []
        step = pd.Timedelta(seconds=state.granularity_s)
        live = self.watch.live
        if self.watch.shadow_incidents:
            # Not recorded: the champion's clocks and healed incidents stay as they are.
            shadow = self.healer.plan(
                self.watch.shadow_incidents,
                rop,
                step,
                model=f"{live.name} {live.shadow_version}",
                record=False,
            )
            self.metrics.shadow_decisions.labels(Action.HEAL.value).inc(len(shadow))
        heals = self.healer.plan(incidents, rop, step, model=f"{live.name} {live.version}")
        for target in self.healer.cleared(rop):
            await self.enactor.withdraw_heal(target, rop.to_pydatetime())
            self.healer.withdrawn(target)  # only once queued: a failure retries next ROP
        return heals

    async def _shadow(
        self, state: CellState, rop: pd.Timestamp, planner: Planner, served: list[Decision]
    ) -> None:
        """Plan on the shadow challenger's forecast with ``planner`` (a copy: the shadow must not
        move the champion's cool-down clocks) and log what it would have done differently;
        nothing it decides is journalled or enacted."""
        forecast = await asyncio.to_thread(self.forecaster.shadow, state, rop)
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

    async def _enact(self, decision: Decision) -> None:
        if self.mode == "shadow":
            # Nothing is sent; the planner keeps believing the packages, which whatever really
            # runs the network changes (the capacity is re-read every ROP in shadow mode).
            outcome = Outcome(decision.id, OutcomeState.SHADOW, detail="shadow mode: not enacted")
            await asyncio.to_thread(self.journal.record_outcome, outcome)
            return
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
            elif decision.action is Action.HEAL and self.healer is not None:
                if outcome.state is OutcomeState.ENACTED:
                    self.healer.in_force(decision)  # withdrawn once its incidents close
                else:
                    self.healer.forget(decision)  # asked for again after the cool-down

    async def policies_in_force(self) -> list[A1Policy]:
        """The A1 policies the network should hold now: each NF's latest enacted capacity
        guidance, and the heals still in force (put back when the A1-PMS lost them).

        NFs with an enactment in flight are left out: its workflow writes (or withdraws) their
        policy itself, and a put-back from the older view could land after it."""
        latest = await asyncio.to_thread(self.journal.latest_by_target, enacted=True)
        pending = await asyncio.to_thread(
            self.journal.decisions, limit=10_000, states=[OutcomeState.PENDING]
        )
        busy = {row["target"] for row in pending}
        healing = self.healer.in_force_targets if self.healer is not None else frozenset()
        return [
            a1_policy_for(d, self.a1)
            for d in latest
            if d.target not in busy
            and (d.action.scales or (d.action is Action.HEAL and d.target in healing))
        ]

    async def recover(self) -> None:
        """After a (re)start: take back the planner's and healer's clocks from the journal and
        re-queue the enactments it holds as pending."""
        latest = await asyncio.to_thread(self.journal.latest_by_target)
        self.planner.recall(d for d in latest if d.action.scales)
        if self.healer is not None:
            self.healer.recall(latest)
        await self._resume()

    async def _resume(self) -> None:
        """Re-queue decisions journalled as pending whose workflow may never have started
        (a crash between the journal and the queue); the decision id makes it idempotent.
        Decisions held for a canary are dropped: their wave was not kept across the restart."""
        held = await asyncio.to_thread(
            self.journal.decisions, limit=10_000, states=[OutcomeState.HELD]
        )
        for row in held:
            why = "held for a canary when the rApp stopped; decided again from the packages"
            outcome = Outcome(row["id"], OutcomeState.DENIED, detail=why)
            await asyncio.to_thread(self.journal.record_outcome, outcome)
        pending = await asyncio.to_thread(
            self.journal.decisions, limit=10_000, states=[OutcomeState.PENDING]
        )
        for row in pending:
            decision = Decision.from_dict(row)
            self._in_flight[decision.id] = decision
            await self.enactor.start(decision)
        if pending:
            log.info("resumed %d pending enactments", len(pending))

    def _journal_conflicts(self, conflicts: list[tuple[Decision, str]]) -> None:
        """Decisions set aside for another on the same target: journalled as denied, with
        which one they lost to, and never judged or enacted."""
        for decision, why in conflicts:
            log.info(
                "decision %s %s %s set aside: %s",
                decision.id,
                decision.target,
                decision.action.value,
                why,
            )
            self.metrics.decisions.labels(decision.action.value, "conflict").inc()
            if self.journal.record_decision(decision):
                self.journal.record_verdict(
                    Verdict(decision.id, False, (why,), self.policy.revision)
                )
                self.journal.record_outcome(Outcome(decision.id, OutcomeState.DENIED, detail=why))

    def _journal(
        self,
        decisions: list[Decision],
        verdicts: list[Verdict],
        logged: list[dict[str, Any]],
        held: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.journal.decision_log.record(logged)
        for decision, verdict in zip(decisions, verdicts, strict=True):
            self.journal.record_decision(decision)
            self.journal.record_verdict(verdict)
            if verdict.allow and decision.id in held:
                outcome = Outcome(
                    decision.id, OutcomeState.HELD, detail="held for the canary of its ROP"
                )
            elif verdict.allow:
                outcome = Outcome(decision.id, OutcomeState.PENDING, detail="enactment started")
            else:
                outcome = Outcome(
                    decision.id, OutcomeState.DENIED, detail="; ".join(verdict.reasons)
                )
            if self.journal.outcome(decision.id) is None:
                self.journal.record_outcome(outcome)


def _sidecar(url: str, query: str, timeout_s: float) -> Callable[[PolicySet], Judge]:
    """An OPA server backend for ``PolicyGate``: each accepted set is pushed to it."""
    from rapp.policy.opa_server import OpaServerEngine

    return lambda ps: OpaServerEngine(ps, url=url, query=query, timeout_s=timeout_s)
