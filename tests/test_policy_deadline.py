"""A policy set that runs away denies its decision instead of holding the loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rapp.domain import Action, Decision
from rapp.policy import PolicySet, RegoPolicyEngine, load_policy_set
from rapp.policy.deadline import Deadline

POLICIES = Path(__file__).resolve().parents[1] / "policies"
ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)

# A verdict whose cost the input sets: the cells' count is the size of a cross product.
_RUNAWAY = """package rapp.scaling
import rego.v1
n := count(input.decision.cells)
work := count([1 | some i in numbers.range(1, n); some j in numbers.range(1, n)])
verdict := {"allow": work >= 0, "reasons": [sprintf("%d pairs", [work])], "obligations": []}
"""


def decision(target: str, cells: int) -> Decision:
    return Decision.new(
        Action.SCALE_OUT, target, [f"c{i}" for i in range(cells)], ROP, "5G", "10G", {}
    )


def test_a_decision_past_the_deadline_is_denied_and_the_next_batch_is_judged() -> None:
    engine = RegoPolicyEngine(PolicySet.create({"r.rego": _RUNAWAY}, {}), timeout_s=0.1)
    assert engine.in_thread
    # 3000 cells: 9 million pairs, seconds (the RVM, then the interpreter confirming the
    # allow), against a deadline that gives up after 0.1 to 0.3 s without progress.
    quick, slow, after = engine.evaluate(
        [decision("a", 3), decision("b", 3000), decision("c", 3)], now=ROP
    )
    assert quick.allow
    assert quick.reasons == ("9 pairs",)
    for late in (slow, after):
        assert not late.allow
        assert late.reasons == (
            "policy engine error: no verdict within 0.1 s: the policy set runs too long",
        )
    assert engine.overstayed == 1
    # A fresh worker judges the next batch while the stuck one finishes on its own.
    [again] = engine.evaluate([decision("d", 2)], now=ROP)
    assert again.allow
    assert again.reasons == ("4 pairs",)


def test_with_a_deadline_the_shipped_set_judges_as_without() -> None:
    policy_set = load_policy_set(POLICIES)
    decisions = [decision("free5gc-upf-site-03", 1), decision("free5gc-upf-site-07", 2)]
    bounded = RegoPolicyEngine(policy_set, timeout_s=5).evaluate(decisions, now=ROP)
    unbounded = RegoPolicyEngine(policy_set).evaluate(decisions, now=ROP)
    assert bounded == unbounded
    assert [v.allow for v in bounded] == [False, False]  # no forecast_max; protected


def test_regorus_state_stays_on_the_worker_thread_that_made_it() -> None:
    made_on: list[str] = []

    def setup() -> str:
        made_on.append(threading.current_thread().name)
        return "state"

    deadline: Deadline[str] = Deadline(setup, timeout_s=1)
    seen = deadline.map(
        lambda state, x: (state, x, threading.current_thread().name), [1, 2], late=str
    )
    assert [s[:2] for s in seen] == [("state", 1), ("state", 2)]
    assert {s[2] for s in seen} == set(made_on) == {"rego-deadline"}
    deadline.close()


def test_a_setup_failure_reaches_the_caller() -> None:
    def setup() -> str:
        raise RuntimeError("no engine")

    with pytest.raises(RuntimeError, match="no engine"):
        Deadline(setup, timeout_s=1).map(lambda s, x: x, [1], late=str)


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(lambda: None, timeout_s=0)


def test_a_setup_that_hangs_is_given_up_on_its_own_deadline() -> None:
    release = threading.Event()
    deadline: Deadline[bool] = Deadline(release.wait, timeout_s=0.05, setup_timeout_s=0.1)
    try:
        assert deadline.map(lambda state, x: x, [1, 2], late=lambda x: -x) == [-1, -2]
        assert deadline.overstayed == 1
    finally:
        release.set()
