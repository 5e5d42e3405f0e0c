"""The Near-RT RIC simulator's admin API under ``/admin``: not part of A1-P, there for tests.

``PUT /admin/policies/{policyId}/status``
    Body: the status object the RIC reports for that policy from now on (it may not exist yet),
    e.g. ``{"enforceStatus": "NOT_ENFORCED", "enforceReason": "STATEMENT_NOT_APPLICABLE"}``;
    checked against the type's ``statusSchema`` when the policy exists. If the policy was put
    with a ``notificationDestination``, the status is POSTed there (the spec's callback).
    200 with ``{"status": {...}, "notified": true|false}``.
``PUT|DELETE /admin/policytypes/{policyTypeId}``
    Add or replace (201/200) a type (body: a ``PolicyTypeObject``), or remove one without
    policies (204; 409 while it has some). A1-P itself cannot change types.
``POST|GET|DELETE /admin/faults``
    Queue a fault (``faults.FaultSpec``; 201), list the pending ones, clear them (204).
``POST /admin/reset``
    Forget every policy and set status (types and faults stay); 200 with the count removed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from simulators.nearrtric.faults import FaultQueue, FaultSpec
from simulators.nearrtric.ric import NearRtRic

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_S = 5.0


def admin_router() -> APIRouter:
    r = APIRouter(prefix="/admin", tags=["admin"])

    def ric(request: Request) -> NearRtRic:
        state: NearRtRic = request.app.state.ric
        return state

    def faults(request: Request) -> FaultQueue:
        queue: FaultQueue = request.app.state.faults
        return queue

    @r.put("/policies/{policyId}/status", summary="Set the status the RIC reports for a policy")
    async def set_status(request: Request, policyId: str, body: dict[str, Any]) -> dict[str, Any]:
        destination = ric(request).set_status(policyId, body)
        notified = destination is not None and await _notify(destination, policyId, body)
        return {"status": body, "notified": notified}

    @r.put("/policytypes/{policyTypeId}", summary="Add or replace a policy type")
    async def put_type(request: Request, policyTypeId: str, body: dict[str, Any]) -> JSONResponse:
        created = ric(request).put_type(policyTypeId, body)
        return JSONResponse(body, status_code=201 if created else 200)

    @r.delete("/policytypes/{policyTypeId}", status_code=204, summary="Remove a policy type")
    async def delete_type(request: Request, policyTypeId: str) -> Response:
        ric(request).delete_type(policyTypeId)
        return Response(status_code=204)

    @r.post("/faults", status_code=201, summary="Queue a fault for the next A1-P requests")
    async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
        return faults(request).add(spec).to_dict()

    @r.get("/faults", summary="List pending faults")
    async def list_faults(request: Request) -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in faults(request).pending()]}

    @r.delete("/faults", status_code=204, summary="Clear every pending fault")
    async def clear_faults(request: Request) -> Response:
        faults(request).clear()
        return Response(status_code=204)

    @r.post("/reset", summary="Forget every policy")
    async def reset(request: Request) -> dict[str, int]:
        return {"removedPolicies": ric(request).reset()}

    return r


async def _notify(destination: str, policy_id: str, status: dict[str, Any]) -> bool:
    """POST the status to the policy's notificationDestination; True if it answered 2xx.

    A failed notification is logged, not raised: the status has changed either way.
    """
    try:
        async with httpx.AsyncClient(timeout=NOTIFY_TIMEOUT_S) as client:
            response = await client.post(destination, json=status)
    except httpx.HTTPError as e:
        log.warning("policy %s: status notification to %s failed: %s", policy_id, destination, e)
        return False
    if not response.is_success:
        log.warning(
            "policy %s: %s answered the status notification with %d",
            policy_id,
            destination,
            response.status_code,
        )
    return response.is_success
