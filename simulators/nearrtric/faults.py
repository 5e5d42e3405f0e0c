"""Injected faults: the next matching A1-P requests are answered late, or with an error status.

What a loaded or failing Near-RT RIC does (the spec's 429, 503 and 507, or anything else), so that
what sits in front of it (A1-PMS, the A1-PMS simulator) can be tested against it. The O-RAN SC A1
simulator offers the same through ``/forceresponse`` and ``/forcedelay``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

A1P_PATH = "/A1-P/v2"


class FaultSpec(BaseModel):
    """The body of ``POST /admin/faults``."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(
        None, ge=400, le=599, description="Answer with this status (a ProblemDetails) instead"
    )
    delay_s: float = Field(0.0, ge=0, le=60, description="Seconds to wait before answering")
    count: int = Field(1, ge=1, description="How many matching requests get the fault")
    methods: list[str] = Field(
        default_factory=list, description="Only requests with one of these methods; [] is any"
    )


@dataclass(slots=True)
class Fault:
    fault_id: int
    spec: FaultSpec
    remaining: int

    def matches(self, method: str) -> bool:
        return not self.spec.methods or method.upper() in {m.upper() for m in self.spec.methods}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.fault_id, **self.spec.model_dump(), "count": self.remaining}


class FaultQueue:
    """Pending faults, oldest first; each request takes at most one."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(next(self._ids), spec, spec.count)
        self._faults.append(fault)
        return fault

    def pending(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request gets, if any; only A1-P paths are ever faulted."""
        if not path.startswith(A1P_PATH):
            return None
        for fault in self._faults:
            if fault.matches(method):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None
