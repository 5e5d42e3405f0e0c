"""Time the Rego gate per decision and per batch, on every backend, in one run.

    python bench/policy.py [--decisions 1000] [--repeat 5]

Backends: the embedded engine (regorus, what the loop uses), the reference (the real OPA Go
library, in process) and an OPA server over its REST Data API (``simulators.opa``: real OPA
behind a real HTTP server on 127.0.0.1, in its own process, like a sidecar). The decisions are
the differential tests' generator: every action, odd targets and malformed quantities
included, on the shipped policies. Targets (issue 5): embedded p50 <= 100 us per decision, a
batch of 1000 decisions <= 100 ms; the ratios to the reference and to the sidecar come from
the same run. Each input carries what the loop adds (``batch``, ``history``, ``a1``); the
deadline row is the embedded engine as the loop runs it (judged in a child process).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rapp.domain import Action, Decision
from rapp.policy import PolicyEngine, PolicySet, RegoPolicyEngine, load_policy_set
from rapp.policy.opa_library import OpaLibraryEngine
from rapp.policy.opa_server import OpaServerEngine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from simulators.process import start_simulator  # noqa: E402
from tests.test_policy_differential import (  # noqa: E402  (the shared generator)
    _a1_parts,
    _batches,
    _decisions,
)

NOW = datetime(2026, 11, 24, 10, 16, tzinfo=UTC)

# The floor: the same engine path (input written, RVM run, verdict read) with a one-rule set,
# so the figures of runs on machines of different speed can be compared by their ratio to it.
_FLOOR = PolicySet.create(
    {
        "floor.rego": "package rapp.scaling\nimport rego.v1\n"
        'verdict := {"allow": false, "reasons": [input.decision.target]}\n'
    },
    {},
)


def per_decision(
    engine: PolicyEngine, decisions: Sequence[Decision], context: Sequence[dict]
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per decision, each judged alone (the loop's usual case: a few per ROP), and
    whether each was allowed (an allow costs the embedded engine more: see engine.py)."""
    out, allowed = np.empty(len(decisions)), np.empty(len(decisions), dtype=bool)
    for i, (d, more) in enumerate(zip(decisions, context, strict=True)):
        start = time.perf_counter()
        [verdict] = engine.evaluate([d], now=NOW, context=[more])
        out[i] = time.perf_counter() - start
        allowed[i] = verdict.allow
    return out, allowed


def batch(
    engine: PolicyEngine, decisions: Sequence[Decision], context: Sequence[dict], repeat: int
) -> float:
    """Best seconds for judging ``decisions`` in one call."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        engine.evaluate(decisions, now=NOW, context=context)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    policy_set = load_policy_set(ROOT / "policies")
    decisions = [d for a in Action for d in _decisions(a, seed=100 + list(Action).index(a))]
    rng = np.random.default_rng(0)
    decisions = [decisions[i] for i in rng.permutation(len(decisions))[: args.decisions]]
    # What the loop adds to each input: where it stands in its ROP, what its target went
    # through lately, and the A1 policy it would be enacted as.
    context = [
        {**b, **a}
        for b, a in zip(_batches(len(decisions), 1), _a1_parts(decisions, 2), strict=True)
    ]
    url, proc = start_simulator("simulators.opa", "/health")
    try:
        backends: dict[str, Callable[[], PolicyEngine]] = {
            "floor: embedded, 1-rule set": lambda: RegoPolicyEngine(_FLOOR),
            "embedded (regorus)": lambda: RegoPolicyEngine(policy_set),
            "embedded, 1 s deadline (loop)": lambda: RegoPolicyEngine(policy_set, timeout_s=1.0),
            "reference (OPA Go library)": lambda: OpaLibraryEngine(policy_set),
            "OPA server (REST, 127.0.0.1)": lambda: OpaServerEngine(policy_set, url=url),
        }
        print(
            f"{len(decisions)} decisions, policy set {policy_set.revision}, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
        print(
            f"  {'backend':30} {'p50 us':>9} {'p99 us':>9} {'1000 in one call ms':>20}"
            f" {'p50 allowed':>12} {'p50 denied':>11}"
        )
        figures = {}
        for name, make in backends.items():
            engine = make()
            engine.evaluate(decisions[:50], now=NOW, context=context[:50])  # warm up
            single, allowed = per_decision(engine, decisions, context)
            whole = batch(engine, decisions, context, args.repeat) * 1000 / len(decisions)
            p50, p99 = np.percentile(single, [50, 99])
            figures[name] = (p50, whole)
            print(
                f"  {name:30} {p50 * 1e6:9.1f} {p99 * 1e6:9.1f} {whole * 1e3:20.1f}"
                f" {_median_us(single[allowed]):>12}"
                f" {_median_us(single[~allowed]):>11}"
            )
            if hasattr(engine, "close"):
                engine.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    p50, whole = figures["embedded (regorus)"]
    floor_p50, _ = figures["floor: embedded, 1-rule set"]
    ref_p50, _ = figures["reference (OPA Go library)"]
    rest_p50, _ = figures["OPA server (REST, 127.0.0.1)"]
    print(f"  {int(allowed.sum())} of {len(decisions)} decisions allowed")
    print(f"  target: embedded p50 <= 100 us: {p50 * 1e6:.1f} us ({_met(p50 <= 100e-6)})")
    print(f"  target: 1000 decisions <= 100 ms: {whole * 1e3:.1f} ms ({_met(whole <= 0.1)})")
    print(
        f"  embedded p50 is {ref_p50 / p50:.1f}x faster than the reference, "
        f"{rest_p50 / p50:.1f}x faster than OPA over REST, "
        f"{p50 / floor_p50:.1f}x the floor (the same path judging with one rule)"
    )


def _median_us(seconds: np.ndarray) -> str:
    return f"{np.median(seconds) * 1e6:.1f}" if len(seconds) else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
