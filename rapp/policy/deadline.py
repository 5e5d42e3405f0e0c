"""A deadline on the embedded engine: a policy that runs away (a huge ``numbers.range``, a deep
``walk``, an accidental cross product) must deny its decision, not hold the loop waiting for it.

regorus cannot be interrupted, so the calls run on a thread of their own and the caller waits
at most ``timeout_s`` for each. A call that overstays is given up: it and the rest of its batch
get the caller's fallback (a denial that says why), and its thread is left to finish alone and
then end, while a fresh thread takes the next batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Job(Generic[S, T, R]):
    call: Callable[[S, T], R]
    items: Sequence[T]
    results: list[R] = field(default_factory=list)
    error: BaseException | None = None
    ready: bool = False
    """Whether the worker has its state: making it (compiling a set) is not a call's time."""
    abandoned: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)

    def run(self, state: S) -> None:
        with self.cond:
            self.ready = True
            self.cond.notify()
        for item in self.items:
            if self.abandoned:
                return
            result = self.call(state, item)
            with self.cond:  # no wake-up per result: the caller looks at progress per period
                self.results.append(result)
                if len(self.results) == len(self.items):
                    self.cond.notify()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            self.error = exc
            self.cond.notify()


class Deadline(Generic[S]):
    """Runs calls on a worker thread that holds ``setup()``'s state; a call still running
    after ``timeout_s`` (at most twice that) is given up.

    The state is made and dropped on the worker (regorus objects are bound to the thread that
    made them). ``setup`` must not hold the owner of this deadline, or the owner is never
    collected; ``close`` ends the worker once its queue is done.
    """

    def __init__(
        self, setup: Callable[[], S], timeout_s: float, *, setup_timeout_s: float = 30.0
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.timeout_s = timeout_s
        self.setup_timeout_s = max(setup_timeout_s, timeout_s)
        self._setup = setup
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job[S, Any, Any] | None] | None = None
        self.overstayed = 0
        """Calls given up so far (each left a thread to finish on its own)."""

    def map(self, call: Callable[[S, T], R], items: Sequence[T], late: Callable[[T], R]) -> list[R]:
        """``call(state, item)`` for each item, in order; ``late(item)`` for the item that
        overstayed and every item after it. Raises what ``setup`` raised."""
        if not items:
            return []
        job: _Job[S, T, R] = _Job(call, items)
        jobs = self._queue()
        jobs.put(job)
        with job.cond:
            # Progress is looked at once per period, not per result (a wake-up per decision
            # would cost more than judging it): a call is given up after one to two periods.
            seen, since = (False, 0), time.monotonic()
            while len(job.results) < len(items) and job.error is None:
                now, progress = time.monotonic(), (job.ready, len(job.results))
                period = self.timeout_s if job.ready else self.setup_timeout_s
                if progress != seen:
                    seen, since = progress, now
                elif now - since >= period:
                    job.abandoned = True
                    self._retire(jobs)
                    break
                job.cond.wait(period)
            done = list(job.results)
        if job.error is not None:
            raise job.error
        return done + [late(item) for item in items[len(done) :]]

    def close(self) -> None:
        """End the worker after what it has queued (a new one starts if ``map`` is called)."""
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.put(None)

    def _queue(self) -> queue.SimpleQueue[_Job[S, Any, Any] | None]:
        with self._lock:
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
                threading.Thread(
                    target=_work,
                    args=(self._setup, self._jobs),
                    name="rego-deadline",
                    daemon=True,
                ).start()
            return self._jobs

    def _retire(self, jobs: queue.SimpleQueue[_Job[S, Any, Any] | None]) -> None:
        """The worker behind ``jobs`` is stuck in a call: later batches go to a new one."""
        with self._lock:
            self.overstayed += 1
            if self._jobs is jobs:
                self._jobs = None
        jobs.put(None)  # what it has queued still runs once it is free; then it ends


def _work(setup: Callable[[], Any], jobs: queue.SimpleQueue[_Job[Any, Any, Any] | None]) -> None:
    state = None
    while True:
        job = jobs.get()
        if job is None:
            break
        if state is None:
            try:
                state = setup()
            except BaseException as exc:
                job.fail(exc)
                del job
                continue
        job.run(state)
        # Not held while idle: a finished job's call may hold the engine that owns this worker.
        del job
    del state  # here, on the thread that made it
