"""Injected conflicts: writes answered as if the revision had moved, or were busy, when it was not.

A client must survive both of Porch's conflict answers: the 500 "the object has been modified"
(stale resourceVersion) and the 409 "another request is already in progress". With a real server
they need a race; here ``POST /admin/conflicts`` makes every ``stale_every``-th (or
``in_flight_every``-th) write get one, at most ``count`` times. The HTTP layer asks
``ConflictFaults.take`` before it hands a write to the store, so an injected conflict never
changes state: the write simply did not happen.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

log = logging.getLogger(__name__)

Operation = Literal["create", "update", "approval", "resources"]
OPERATIONS: tuple[Operation, ...] = ("create", "update", "approval", "resources")
Injected = Literal["stale", "in_flight"]


class ConflictSpec(BaseModel):
    """The body of ``POST /admin/conflicts``."""

    model_config = ConfigDict(extra="forbid")

    stale_every: int | None = Field(
        None, ge=1, description="Every n-th write answers 500 'the object has been modified'"
    )
    in_flight_every: int | None = Field(
        None, ge=1, description="Every n-th write answers 409 'another request is in progress'"
    )
    count: int | None = Field(None, ge=1, description="Stop after injecting this many")
    operations: list[Operation] = Field(
        default_factory=lambda: list(OPERATIONS),
        description="Which writes count: create, update, approval, resources",
    )

    @model_validator(mode="after")
    def _injects_something(self) -> ConflictSpec:
        if self.stale_every is None and self.in_flight_every is None:
            raise ValueError("give stale_every and/or in_flight_every")
        return self


class ConflictFaults:
    """The active conflict setting and its counters; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spec: ConflictSpec | None = None
        self._seen = 0
        self._remaining: int | None = None
        self.injected: dict[Injected, int] = {"stale": 0, "in_flight": 0}

    def set(self, spec: ConflictSpec) -> dict[str, Any]:
        with self._lock:
            self._spec, self._seen, self._remaining = spec, 0, spec.count
            log.info("conflict injection set: %s", spec.model_dump())
            return self._describe()

    def clear(self) -> None:
        with self._lock:
            self._spec = None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return self._describe()

    def _describe(self) -> dict[str, Any]:
        if self._spec is None:
            return {"active": False, "injected": dict(self.injected)}
        return {
            "active": True,
            **self._spec.model_dump(),
            "writes_seen": self._seen,
            "remaining": self._remaining,
            "injected": dict(self.injected),
        }

    def take(self, operation: Operation) -> Injected | None:
        """Count one write; the conflict it gets instead of being served, if any."""
        with self._lock:
            spec = self._spec
            if spec is None or operation not in spec.operations:
                return None
            self._seen += 1
            hit: Injected | None = None
            if spec.stale_every and self._seen % spec.stale_every == 0:
                hit = "stale"
            elif spec.in_flight_every and self._seen % spec.in_flight_every == 0:
                hit = "in_flight"
            if hit is None:
                return None
            self.injected[hit] += 1
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining == 0:
                    self._spec = None
            return hit
