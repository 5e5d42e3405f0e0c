"""A circuit breaker per peer (A1-PMS, Nephio): a peer that keeps failing is left alone a while.

Without it, every queued enactment would spend its step retries hammering a peer that is down,
each adding load at the worst moment. With it, after ``threshold`` transient failures in a row
the breaker opens: calls fail at once with :class:`PeerUnavailable` (itself transient), so the
saga's durable outage wait takes over and the decision waits instead of failing. After
``cooldown_s`` one call is let through (half-open); its success closes the breaker, its failure
opens it again. State is per process, which is what matters: it protects the peer from this
replica's load and costs nothing to lose in a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class PeerUnavailable(Exception):
    """The peer's breaker is open: not called, try again later."""

    def __init__(self, peer: str, retry_in_s: float) -> None:
        super().__init__(
            f"{peer} circuit open after repeated failures; next try in {retry_in_s:.0f} s"
        )
        self.peer = peer
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    """Counts a peer's consecutive transient failures and opens after ``threshold`` of them."""

    def __init__(
        self,
        peer: str,
        *,
        threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown_s < 0:
            raise ValueError("threshold must be >= 1 and cooldown_s >= 0")
        self.peer = peer
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0
        """How many times the circuit has opened (a metric, and for tests)."""

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def allow(self) -> None:
        """Raise :class:`PeerUnavailable` unless a call may go to the peer now."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True  # one probe at a time; the others keep waiting
                return
            assert self._opened_at is not None
            wait = max(0.0, self._opened_at + self.cooldown_s - self._clock())
            raise PeerUnavailable(self.peer, wait)

    def succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.info("%s answers again: circuit closed", self.peer)
            self._failures, self._opened_at, self._probing = 0, None, False

    def failed(self) -> None:
        """A transient failure (a refusal is an answer, and does not count)."""
        with self._lock:
            self._failures += 1
            reopen = self._probing
            self._probing = False
            if reopen or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at = self._clock()
                self.opened += 1
                log.warning(
                    "%s failed %d times in a row: circuit open for %.0f s",
                    self.peer,
                    self._failures,
                    self.cooldown_s,
                )

    @contextmanager
    def guard(self, is_transient: Callable[[BaseException], bool]) -> Iterator[None]:
        """Around one call to the peer: refused while open; its outcome counted."""
        self.allow()
        try:
            yield
        except (asyncio.CancelledError, GeneratorExit):
            with self._lock:
                self._probing = False  # no answer either way: let another call probe
            raise
        except Exception as exc:
            if not is_transient(exc):
                self.succeeded()  # a refusal is an answer: the peer is up
            elif not _counted(exc):
                self.failed()
            raise
        self.succeeded()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN


def _counted(exc: BaseException) -> bool:
    """Whether this failure was counted already: one failed call to the peer can reach several
    callers (a grouped git push fails every publish in it), and must count once."""
    if getattr(exc, "_rapp_breaker_counted", False):
        return True
    # An exception type with __slots__ cannot be marked: it counts each time.
    with contextlib.suppress(AttributeError):
        exc._rapp_breaker_counted = True  # type: ignore[attr-defined]
    return False
