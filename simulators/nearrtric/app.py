"""HTTP face of the Near-RT RIC simulator: A1-P v2.0.0 under ``/A1-P/v2``, as a RIC serves it.

Routes only translate HTTP to ``NearRtRic`` calls. Every error, including unknown routes and
methods, leaves as RFC 7807 ``application/problem+json`` (the spec's ``ProblemDetails``). The
admin API (``admin.py``) and fault injection (``faults.py``) sit beside it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from simulators.nearrtric.admin import admin_router
from simulators.nearrtric.faults import A1P_PATH, FaultQueue
from simulators.nearrtric.ric import TYPES_DIR, NearRtRic, load_types
from simulators.problems import Problem, answer_problems, problem_response

__all__ = ["A1P_PATH", "create_app"]


log = logging.getLogger(__name__)


def create_app(types_dir: Path = TYPES_DIR, *, max_policies: int | None = None) -> FastAPI:
    """A fresh RIC: state on ``app.state.ric``, faults on ``app.state.faults``."""
    app = FastAPI(
        title="Near-RT RIC simulator (A1-P v2.0.0)",
        description=(
            "The Near-RT RIC side of O-RAN A1-P v2.0.0 (ORAN_A1-p_V2.0.0_api.yaml), in memory, "
            "with an admin API for policy statuses, types, faults and reset."
        ),
        openapi_tags=[
            {"name": "A1-P", "description": "O-RAN A1-P v2.0.0, the RIC side."},
            {"name": "admin", "description": "Simulator control, not part of A1-P."},
        ],
    )
    app.state.ric = NearRtRic(load_types(types_dir), max_policies=max_policies)
    app.state.faults = FaultQueue()
    app.include_router(_router())
    app.include_router(admin_router())
    app.middleware("http")(_apply_faults)
    answer_problems(app)

    @app.get("/healthz", tags=["admin"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _apply_faults(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    queue: FaultQueue = request.app.state.faults
    fault = queue.take(request.method, request.url.path)
    if fault is None:
        return await call_next(request)
    log.info("fault %d hits %s %s", fault.id, request.method, request.url.path)
    if fault.spec.delay_s:
        await asyncio.sleep(fault.spec.delay_s)
    if fault.spec.status is None:
        return await call_next(request)
    problem = Problem(fault.spec.status, "Injected by the Near-RT RIC simulator's admin API")
    return problem_response(problem, request)


def _ric(request: Request) -> NearRtRic:
    ric: NearRtRic = request.app.state.ric
    return ric


async def _json_body(request: Request) -> Any:
    """The request body as JSON, or a 400 the spec's way (FastAPI's own would be a 422)."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError:
        raise Problem(400, "The policy object is missing or not JSON") from None


def _router() -> APIRouter:
    r = APIRouter(prefix=A1P_PATH, tags=["A1-P"])

    @r.get("/policytypes", summary="All policy type identifiers")
    async def get_policy_types(request: Request) -> list[str]:
        return _ric(request).type_ids()

    @r.get("/policytypes/{policyTypeId}", summary="The schemas of a policy type")
    async def get_policy_type(request: Request, policyTypeId: str) -> dict[str, Any]:
        return _ric(request).policy_type(policyTypeId)

    @r.get("/policytypes/{policyTypeId}/policies", summary="All policy identifiers of a type")
    async def get_policy_ids(request: Request, policyTypeId: str) -> list[str]:
        return _ric(request).policy_ids(policyTypeId)

    @r.put(
        "/policytypes/{policyTypeId}/policies/{policyId}",
        summary="Create (201) or update (200) a policy",
        responses={201: {"description": "The policy was created"}},
    )
    async def put_policy(
        request: Request,
        policyTypeId: str,
        policyId: str,
        notificationDestination: Annotated[str | None, Query()] = None,
    ) -> JSONResponse:
        body = await _json_body(request)
        created = _ric(request).put_policy(policyTypeId, policyId, body, notificationDestination)
        if not created:
            return JSONResponse(body, status_code=200)
        location = str(request.url.replace(query=""))
        return JSONResponse(body, status_code=201, headers={"Location": location})

    @r.get("/policytypes/{policyTypeId}/policies/{policyId}", summary="A policy")
    async def get_policy(request: Request, policyTypeId: str, policyId: str) -> dict[str, Any]:
        return _ric(request).policy(policyTypeId, policyId)

    @r.delete(
        "/policytypes/{policyTypeId}/policies/{policyId}",
        status_code=204,
        summary="Delete a policy",
    )
    async def delete_policy(request: Request, policyTypeId: str, policyId: str) -> Response:
        _ric(request).delete_policy(policyTypeId, policyId)
        return Response(status_code=204)

    @r.get("/policytypes/{policyTypeId}/policies/{policyId}/status", summary="A policy's status")
    async def get_policy_status(
        request: Request, policyTypeId: str, policyId: str
    ) -> dict[str, Any]:
        return _ric(request).status(policyTypeId, policyId)

    return r
