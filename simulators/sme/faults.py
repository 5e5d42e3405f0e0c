"""Injected faults: the next matching CAPIF requests are answered late, or with an error status,
so that an rApp's handling of an unavailable or failing SME can be tested."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Api = Literal["discovery", "publish", "provider", "invoker", "any"]

# The CAPIF API each fault kind stands for, by path prefix.
API_PREFIXES: dict[str, str] = {
    "discovery": "/service-apis/v1",
    "publish": "/published-apis/v1",
    "provider": "/api-provider-management/v1",
    "invoker": "/api-invoker-management/v1",
}


class FaultSpec(BaseModel):
    """The body of ``POST /admin/faults``; ``{"discovery_status": 503, "count": 2}`` is short for
    ``{"api": "discovery", "status": 503, "count": 2}``."""

    model_config = ConfigDict(extra="forbid")

    api: Api = Field("discovery", description="Which CAPIF API the fault hits")
    status: int | None = Field(
        None, ge=400, le=599, description="Answer with this status (a ProblemDetails) instead"
    )
    discovery_status: int | None = Field(None, ge=400, le=599, exclude=True)
    delay_s: float = Field(0.0, ge=0, le=60, description="Seconds to wait before answering")
    count: int = Field(1, ge=1, description="How many matching requests get the fault")

    @model_validator(mode="after")
    def _shorthand(self) -> FaultSpec:
        if self.discovery_status is not None:
            if self.status is not None or self.api != "discovery":
                raise ValueError("discovery_status goes without api and status")
            self.status = self.discovery_status
        if self.status is None and not self.delay_s:
            raise ValueError("a fault needs a status or a delay_s")
        return self


@dataclass(slots=True)
class Fault:
    fault_id: int
    spec: FaultSpec
    remaining: int

    def matches(self, path: str) -> bool:
        if self.spec.api == "any":
            return any(path.startswith(p) for p in API_PREFIXES.values())
        return path.startswith(API_PREFIXES[self.spec.api])

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

    def take(self, path: str) -> Fault | None:
        """The fault this request gets, if any; only CAPIF paths are ever faulted."""
        for fault in self._faults:
            if fault.matches(path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None
