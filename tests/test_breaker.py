"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import pytest

from rapp.enact.breaker import BreakerState, CircuitBreaker, PeerUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def transient(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


def call(breaker: CircuitBreaker, exc: BaseException | None = None) -> None:
    with breaker.guard(transient):
        if exc is not None:
            raise exc


def test_it_opens_after_the_threshold_of_transient_failures_in_a_row() -> None:
    clock = Clock()
    breaker = CircuitBreaker("A1-PMS", threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            call(breaker, ConnectionError())
    call(breaker)  # a success resets the count
    for _ in range(3):
        with pytest.raises(ConnectionError):
            call(breaker, ConnectionError())
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened == 1
    clock.now = 10
    with pytest.raises(PeerUnavailable, match="next try in 20 s"):
        call(breaker)


def test_a_refusal_is_an_answer_and_does_not_count() -> None:
    breaker = CircuitBreaker("Nephio", threshold=1, clock=Clock())
    with pytest.raises(ValueError, match="no"):
        call(breaker, ValueError("no"))
    assert breaker.state is BreakerState.CLOSED


def test_after_the_cooldown_one_probe_goes_through_and_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("A1-PMS", threshold=1, cooldown_s=5, clock=clock)
    with pytest.raises(ConnectionError):
        call(breaker, ConnectionError())
    clock.now = 5
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.allow()  # the probe
    with pytest.raises(PeerUnavailable):
        breaker.allow()  # only one at a time
    breaker.failed()  # the probe failed: open again, for a full cooldown
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened == 2
    clock.now = 10
    call(breaker)  # the next probe succeeds
    assert breaker.state is BreakerState.CLOSED
    call(breaker)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker("x", threshold=0)


def test_the_breakers_are_reported_at_scrape_time() -> None:
    from prometheus_client import generate_latest

    from rapp.metrics import LoopMetrics

    clock = Clock()
    breakers = {"A1-PMS": CircuitBreaker("A1-PMS", threshold=1, clock=clock)}
    metrics = LoopMetrics()
    metrics.watch_breakers(breakers)
    before = generate_latest(metrics.registry).decode()
    assert 'rapp_peer_circuit_open{peer="A1-PMS"} 0.0' in before
    breakers["A1-PMS"].failed()
    after = generate_latest(metrics.registry).decode()
    assert 'rapp_peer_circuit_open{peer="A1-PMS"} 1.0' in after
    assert 'rapp_peer_circuit_opened_total{peer="A1-PMS"} 1.0' in after


def test_one_failure_that_reaches_several_callers_counts_once() -> None:
    breaker = CircuitBreaker("Nephio", threshold=2, clock=Clock())
    shared = ConnectionError("push timed out")  # a grouped push failing every publish in it
    for _ in range(3):
        with pytest.raises(ConnectionError):
            call(breaker, shared)
    assert breaker.state is BreakerState.CLOSED
    with pytest.raises(ConnectionError):
        call(breaker, ConnectionError("and again"))
    assert breaker.state is BreakerState.OPEN


async def test_a_cancelled_probe_neither_closes_nor_keeps_the_circuit_busy() -> None:
    import asyncio

    clock = Clock()
    breaker = CircuitBreaker("A1-PMS", threshold=1, cooldown_s=5, clock=clock)
    with pytest.raises(ConnectionError):
        call(breaker, ConnectionError())
    clock.now = 5

    async def probe() -> None:
        with breaker.guard(transient):
            await asyncio.sleep(10)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.HALF_OPEN  # not closed by a call that never answered
    breaker.allow()  # and another call may probe
