"""Injected faults: the next matching CAPIF requests are answered late, or with an error status,
so that an rApp's handling of an unavailable or failing SME can be tested."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.fault_queue import Fault
from simulators.fault_queue import FaultQueue as _FaultQueue

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


def _hits(spec: FaultSpec, path: str) -> bool:
    if spec.api == "any":
        return any(path.startswith(p) for p in API_PREFIXES.values())
    return path.startswith(API_PREFIXES[spec.api])


class FaultQueue(_FaultQueue[FaultSpec]):
    """Pending faults, oldest first; only CAPIF paths are ever faulted."""

    def take(self, path: str) -> Fault[FaultSpec] | None:
        return self.take_first(lambda spec: _hits(spec, path))
