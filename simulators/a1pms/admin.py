"""The simulator's admin API under ``/admin``: not part of A1-PMS, there for tests and demos.

``POST /admin/faults``
    Queue a fault (body: ``faults.FaultSpec``). The next ``count`` requests whose method is in
    ``methods`` (empty: any) and whose path starts with ``path_prefix`` (default: the whole
    A1-PMS API) wait ``delay_s`` seconds and then get ``status`` as an RFC 7807 problem that says
    it was injected, get dropped without an answer (``drop_connection``), or are served normally
    (a delay alone). Faults apply oldest first, one fault per request. 201 with the fault and
    its ``id``. Any 4xx/5xx status can be injected, also one the spec does not list for the path.
``GET /admin/faults``
    ``{"faults": [...]}``, the pending faults with ``count`` as the requests still to be hit.
``DELETE /admin/faults``
    Clear every pending fault; 204.
``PUT /admin/rics/{ricId}/state``
    Body ``{"state": "SYNCHRONIZING"}`` (or ``AVAILABLE``, ``UNAVAILABLE``,
    ``CONSISTENCY_CHECK``): a SYNCHRONIZING RIC answers policy changes with 423 Locked. 200 with
    the ``RicInfo``.
``PUT /admin/policies/{policyId}/status``
    Body: the status object the Near-RT RIC is to report for that policy from now on (it may
    not exist yet), e.g. ``{"enforceStatus": "NOT_ENFORCED", "enforceReason":
    "STATEMENT_NOT_APPLICABLE"}``; without one a policy is ``ENFORCED``. 200 with the status.
``POST /admin/reset``
    Forget every policy, service and set status (RICs, their states and pending faults stay);
    200 with ``{"removedPolicies": n, "removedServices": m}``.

Errors are RFC 7807 ``application/problem+json``, as on the A1-PMS paths.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from simulators.a1pms.config import RicState
from simulators.a1pms.faults import ADMIN_PREFIX, FaultQueue, FaultSpec
from simulators.a1pms.registry import Registry

ADMIN_TAG = {
    "name": "admin",
    "description": "Simulator control, not part of A1-PMS: fault injection, RIC states, reset.",
}


class RicStateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: RicState


def admin_router() -> APIRouter:
    r = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"])

    def faults(request: Request) -> FaultQueue:
        queue: FaultQueue = request.app.state.faults
        return queue

    def registry(request: Request) -> Registry:
        reg: Registry = request.app.state.registry
        return reg

    @r.post("/faults", status_code=201, summary="Queue a fault for the next matching requests")
    async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
        return faults(request).add(spec).to_dict()

    @r.get("/faults", summary="List pending faults")
    async def list_faults(request: Request) -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in faults(request).pending()]}

    @r.delete("/faults", status_code=204, summary="Clear every pending fault")
    async def clear_faults(request: Request) -> Response:
        faults(request).clear()
        return Response(status_code=204)

    @r.put("/rics/{ricId}/state", summary="Set a Near-RT RIC's state")
    async def set_ric_state(request: Request, ricId: str, body: RicStateChange) -> dict[str, Any]:
        return registry(request).set_ric_state(ricId, body.state)

    @r.post("/rics/{ricId}/sync", summary="Synchronise a RIC given by URL now")
    async def sync_ric(request: Request, ricId: str) -> dict[str, Any]:
        return registry(request).synchronize(ricId)

    @r.put("/policies/{policyId}/status", summary="Set the status a RIC reports for a policy")
    async def set_policy_status(
        request: Request, policyId: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return registry(request).set_policy_status(policyId, body)

    @r.post("/reset", summary="Forget every policy and service")
    async def reset(request: Request) -> dict[str, int]:
        policies, services = registry(request).reset()
        return {"removedPolicies": policies, "removedServices": services}

    return r
