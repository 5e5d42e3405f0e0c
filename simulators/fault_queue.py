"""Injected faults, as every simulator's admin API queues them: oldest first, each request
takes at most one, a fault is spent after ``count`` requests. Each simulator says which of its
requests a fault can hit (``take``); event-loop only, so taking one is atomic (it never awaits).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class _Spec(Protocol):
    count: int

    def model_dump(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=_Spec)


@dataclass(slots=True)
class Fault(Generic[S]):
    id: int
    spec: S
    remaining: int

    def to_dict(self) -> dict[str, Any]:
        """The spec as posted, with its id and ``count`` as the requests still to be hit."""
        return {"id": self.id, **self.spec.model_dump(), "count": self.remaining}


class FaultQueue(Generic[S]):
    """Pending faults, oldest first."""

    def __init__(self) -> None:
        self._faults: list[Fault[S]] = []
        self._ids = itertools.count(1)

    def add(self, spec: S) -> Fault[S]:
        fault = Fault(next(self._ids), spec, spec.count)
        self._faults.append(fault)
        log.info("fault %d queued: %s", fault.id, spec.model_dump())
        return fault

    def pending(self) -> list[Fault[S]]:
        return list(self._faults)

    def clear(self) -> int:
        count = len(self._faults)
        self._faults.clear()
        return count

    def take_first(self, hits: Callable[[S], bool]) -> Fault[S] | None:
        """The oldest fault whose spec ``hits`` the request, one use of it spent."""
        for fault in self._faults:
            if hits(fault.spec):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None
