"""A policy set that runs away denies its decision instead of holding the loop: the embedded
engine judges in a child process, killed when a decision overstays (regorus holds the GIL and
cannot be interrupted, so no thread could)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rapp.domain import Action, Decision
from rapp.policy import PolicySet, RegoPolicyEngine, failed_closed, load_policy_set
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
    engine = RegoPolicyEngine(PolicySet.create({"r.rego": _RUNAWAY}, {}), timeout_s=0.5)
    assert engine.in_thread
    # 4000 cells: 16 million pairs, many seconds; the other two take microseconds.
    quick, slow, after = engine.evaluate(
        [decision("a", 3), decision("b", 4000), decision("c", 3)], now=ROP
    )
    assert quick.allow
    assert quick.reasons == ("9 pairs",)
    for late in (slow, after):
        assert not late.allow
        assert late.reasons == (
            "policy engine error: no verdict within 0.5 s: the policy set runs too long",
        )
    assert engine.overstayed == 1
    assert [failed_closed(v) for v in (quick, slow, after)] == [None, "deadline", "deadline"]
    # The runaway's child was killed; a fresh one judges the next batch.
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


def test_an_engine_error_in_the_child_is_located_like_in_process() -> None:
    broken = PolicySet.create(
        {
            "b.rego": "package rapp.scaling\nimport rego.v1\n"
            'verdict := {"allow": units.parse("x") > 1}\n'
        },
        {},
    )
    [bounded] = RegoPolicyEngine(broken, timeout_s=5).evaluate([decision("a", 1)], now=ROP)
    [unbounded] = RegoPolicyEngine(broken).evaluate([decision("a", 1)], now=ROP)
    assert bounded == unbounded
    assert not bounded.allow
    assert bounded.reasons[0].startswith("policy engine error: b.rego:3:")
    assert failed_closed(bounded) == "error"


def test_a_child_that_dies_denies_its_batch_and_is_replaced() -> None:
    deadline = Deadline(
        PolicySet.create({"p.rego": "package p\nimport rego.v1\nr := input.x\n"}, {}),
        None,
        "data.p.r",
        timeout_s=5,
    )
    try:
        assert deadline.map(['{"x": 1}', '{"x": 2}']) == [1, 2]
        os.kill(deadline._child._proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        [died] = deadline.map(['{"x": 3}'])
        assert "the policy child died" in str(died)
        assert deadline.map(['{"x": 4}']) == [4]
    finally:
        deadline.close()


def test_a_policy_that_prints_is_judged_in_the_child_like_any_other() -> None:
    chatty = PolicySet.create(
        {
            "p.rego": "package p\nimport rego.v1\n"
            'r := x if {\n\tx := input.x\n\tprint("x is", x)\n}\n'
        },
        {},
    )
    deadline = Deadline(chatty, None, "data.p.r", timeout_s=5)
    try:
        assert deadline.map(['{"x": "a"}', '{"x": "b"}']) == ["a", "b"]
    finally:
        deadline.close()


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(PolicySet.create({"p.rego": "package p\n"}, {}), None, "data.p.r", timeout_s=0)


def test_a_batch_larger_than_the_pipe_is_judged_whole() -> None:
    """Thousands of documents: more than a pipe holds each way, so writing them all before
    reading the answers would leave parent and child waiting on each other."""
    echo = PolicySet.create({"p.rego": "package p\nimport rego.v1\nr := input.pad\n"}, {})
    deadline = Deadline(echo, None, "data.p.r", timeout_s=5)
    pad = "x" * 200
    try:
        answers = deadline.map([f'{{"pad": "{pad}{i}"}}' for i in range(3000)])
    finally:
        deadline.close()
    assert answers == [f"{pad}{i}" for i in range(3000)]


def test_a_garbled_answer_ends_the_child_and_never_reaches_the_next_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Answers left in the pipe after a failure would be read as the next batch's: the child
    is dropped, the rest of its batch denied, and the next batch starts clean."""
    import rapp.policy.deadline as module

    echo = PolicySet.create({"p.rego": "package p\nimport rego.v1\nr := input.x\n"}, {})
    deadline = Deadline(echo, None, "data.p.r", timeout_s=5)
    real = module._answer
    calls = iter(range(100))

    def garbled_second(line: bytes) -> object:
        if next(calls) == 1:
            raise ValueError("garbled")
        return real(line)

    monkeypatch.setattr(module, "_answer", garbled_second)
    try:
        first = deadline.map(['{"x": 1}', '{"x": 2}', '{"x": 3}'])
        assert first[0] == 1
        assert [str(e) for e in first[1:]] == ["policy child: garbled"] * 2
        assert deadline.map(['{"x": 4}', '{"x": 5}']) == [4, 5]
    finally:
        deadline.close()
