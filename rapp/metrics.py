"""Prometheus metrics of the loop, on a registry of the runtime's own (no process globals)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rapp.enact.breaker import BreakerState, CircuitBreaker


class LoopMetrics:
    """What a platform team graphs and alerts on: intake, dead letters, decisions, ROP latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "rapp_pm_records", "PM records read from Kafka", registry=self.registry
        )
        self.pm_rows = Counter(
            "rapp_pm_rows",
            "PM counter rows taken into cell state, from any source",
            registry=self.registry,
        )
        self.pm_rows_skipped = Counter(
            "rapp_pm_rows_skipped",
            "PM rows not taken into cell state, by reason: granularity (not the ROP length the "
            "loop models), too_old (older than the retention window), unconfirmed_jump (a period "
            "end far past the stream that the stream did not follow)",
            ["reason"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "rapp_dead_letters", "Records sent to the dead-letter topic", registry=self.registry
        )
        self.file_ready = Counter(
            "rapp_file_ready",
            "File-ready notifications entering a state: pending (taken on), done, failed",
            ["state"],
            registry=self.registry,
        )
        self.rops_closed = Counter(
            "rapp_rops_closed", "ROPs closed in cell state", registry=self.registry
        )
        self.cells = Gauge("rapp_cells", "Cells known to the cell state", registry=self.registry)
        self.decisions = Counter(
            "rapp_decisions",
            "Decisions made, by action and verdict",
            ["action", "verdict"],
            registry=self.registry,
        )
        self.shadow_decisions = Counter(
            "rapp_shadow_decisions",
            "Decisions the shadow challenger would have made (logged, never enacted), by action",
            ["action"],
            registry=self.registry,
        )
        self.incidents = Gauge(
            "rapp_incidents_open",
            "Incidents the detector sees open at the latest decided ROP, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.model_drift = Gauge(
            "rapp_model_drift_psi",
            "Population stability index of each input the serving model reads, live data of "
            "the last day against its training data (0.1: watch, 0.25: retrain)",
            ["model", "feature"],
            registry=self.registry,
        )
        self.policy_reloads = Counter(
            "rapp_policy_reloads",
            "Candidate policy sets, by result (accepted, or rejected: the last good set stays)",
            ["result"],
            registry=self.registry,
        )
        self.policy_failures = Counter(
            "rapp_policy_failures",
            "Decisions denied because the policy set could not judge them (fail closed), by "
            "kind: deadline (ran past policy.timeout_s) or error (a runtime error in the set)",
            ["kind"],
            registry=self.registry,
        )
        self.decide_seconds = Histogram(
            "rapp_decide_seconds",
            "Forecast, plan, gate and journal time for one closed ROP",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def watch_breakers(self, breakers: Mapping[str, CircuitBreaker]) -> None:
        """Report each peer's circuit breaker at scrape time (its state lives in the breaker)."""
        self.registry.register(_Breakers(breakers))


class _Breakers(Collector):
    def __init__(self, breakers: Mapping[str, CircuitBreaker]) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "rapp_peer_circuit_open",
            "1 while a peer's circuit is open or half-open (its calls fail fast and decisions "
            "wait durably), 0 when closed",
            labels=["peer"],
        )
        opened = CounterMetricFamily(
            "rapp_peer_circuit_opened",
            "Times a peer's circuit opened after repeated transient failures",
            labels=["peer"],
        )
        for peer, breaker in self._breakers.items():
            state.add_metric([peer], float(breaker.state is not BreakerState.CLOSED))
            opened.add_metric([peer], breaker.opened)
        yield state
        yield opened
