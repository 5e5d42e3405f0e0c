"""Injected faults: the next matching A1-P requests are answered late, or with an error status.

What a loaded or failing Near-RT RIC does (the spec's 429, 503 and 507, or anything else), so that
what sits in front of it (A1-PMS, the A1-PMS simulator) can be tested against it. The O-RAN SC A1
simulator offers the same through ``/forceresponse`` and ``/forcedelay``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from simulators.fault_queue import Fault
from simulators.fault_queue import FaultQueue as _FaultQueue

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


class FaultQueue(_FaultQueue[FaultSpec]):
    """Pending faults, oldest first; only A1-P paths are ever faulted."""

    def take(self, method: str, path: str) -> Fault[FaultSpec] | None:
        if not path.startswith(A1P_PATH):
            return None
        wanted = method.upper()
        return self.take_first(
            lambda spec: not spec.methods or wanted in {m.upper() for m in spec.methods}
        )
