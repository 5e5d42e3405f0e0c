"""HTTP face of the A1-PMS simulator: the v3 (``/a1-policy-management/v1``) paths the rApp uses,
and beside them the v2 (``/a1-policy/v2``) ones, from ``v2.py``, over the same registry.

Routes only translate HTTP to ``Registry`` calls; every rule lives in ``registry.py``. Every error,
including FastAPI's own request validation and unknown routes, leaves as RFC 7807
``application/problem+json``, because that is what a real A1-PMS sends and what clients parse.

What the spec says per operation, the routes do exactly: a query parameter the operation does not
know is a 400 only where the spec lists a 400 (``/policy-types``, ``/policies``; not ``/rics`` or
``/services``), and an ``Accept`` that excludes ``application/json`` is a 406 only where the spec
lists a 406. The admin API (``admin.py``) and fault injection (``faults.py``) sit beside it.
The v2 API is a sub-application mounted at its prefix, with the same error handling: it has an
OpenAPI of its own (``/a1-policy/v2/docs``), as it is a separate API in A1-PMS too, and the
fault middleware, outside both, faults either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from simulators.a1pms.admin import ADMIN_TAG, admin_router
from simulators.a1pms.config import BASE_PATH, SimulatorConfig
from simulators.a1pms.faults import FaultMiddleware, FaultQueue
from simulators.a1pms.problem import Problem
from simulators.a1pms.registry import Registry
from simulators.a1pms.v2 import V2_BASE_PATH, V2_TAG, v2_router
from simulators.problems import answer_problems

__all__ = ["BASE_PATH", "create_app"]


# Any JSON at all: the registry checks the shape itself, so its 400s say what the spec expects.
JsonBody = Annotated[Any, Body()]

log = logging.getLogger(__name__)


def create_app(
    config: SimulatorConfig | None = None, *, keepalive_check_interval: float = 1.0
) -> FastAPI:
    """A fresh simulator: state on ``app.state.registry``, faults on ``app.state.faults``."""
    registry = Registry(config or SimulatorConfig.default())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_supervise(registry, keepalive_check_interval))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            registry.close()  # the connections to Near-RT RICs given by URL

    app = _SimulatorApp(
        title="A1-PMS simulator",
        description=(
            "Serves the O-RAN SC A1 Policy Management Service v3 API from memory, "
            "with an admin API for fault injection, RIC states and reset. "
            f"The older v2 API, over the same state, is documented at {V2_BASE_PATH}/docs."
        ),
        lifespan=lifespan,
        openapi_tags=[A1PMS_TAG, ADMIN_TAG],
    )
    app.state.registry = registry
    app.state.faults = FaultQueue()
    app.include_router(_router())
    app.include_router(admin_router())
    answer_problems(app)

    v2 = FastAPI(
        title="A1-PMS simulator: v2 API",
        description=(
            "The O-RAN SC A1-PMS v2 API (pms-api.yaml), over the same state as the v3 API at "
            f"{BASE_PATH}."
        ),
        openapi_tags=[V2_TAG],
    )
    v2.state.registry = registry
    v2.include_router(v2_router())
    answer_problems(v2)
    app.mount(V2_BASE_PATH, v2)
    return app


A1PMS_TAG = {"name": "A1-PMS", "description": "The A1-PMS v3 API (pms-api-v3.yaml)."}


class _SimulatorApp(FastAPI):
    """FastAPI with fault injection outside everything else, even Starlette's error handling."""

    def build_middleware_stack(self) -> ASGIApp:
        return FaultMiddleware(super().build_middleware_stack(), self.state.faults)


async def _supervise(registry: Registry, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            registry.expire_services()
        except Exception:
            # One bad sweep must not end supervision for the rest of the run.
            log.exception("keepalive supervision failed")


def _only_query(*allowed: str) -> Callable[[Request], None]:
    """A dependency that refuses unknown query parameters, as A1-PMS v3 does."""

    def check(request: Request) -> None:
        unexpected = sorted(set(request.query_params) - set(allowed))
        if unexpected:
            raise Problem(400, f"Unexpected query parameters: {', '.join(unexpected)}")

    return check


def _accepts_json(accept: str | None) -> bool:
    """Whether an ``Accept`` header lets the answer be ``application/json`` (RFC 9110 12.5.1).

    The most specific media range that covers ``application/json`` decides, by its ``q``.
    """
    if accept is None or not accept.strip():
        return True
    best: tuple[int, float] | None = None
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        specificity = {"application/json": 2, "application/*": 1, "*/*": 0}.get(media.lower())
        if specificity is None:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return best is not None and best[1] > 0


def _json_accepted(request: Request) -> None:
    """A dependency for the operations whose spec lists 406: "Only application/json is allowed"."""
    accept = request.headers.get("accept")
    if not _accepts_json(accept):
        raise Problem(406, f"Only application/json is allowed; Accept was {accept!r}")


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _router() -> APIRouter:
    r = APIRouter(prefix=BASE_PATH, tags=["A1-PMS"])
    # The operations whose responses include 406 in the spec; the others ignore Accept.
    json_only = Depends(_json_accepted)

    @r.get("/status")
    async def get_status() -> dict[str, str]:
        return {"status": "success"}

    # No _only_query here: the spec gives GET /rics no 400, so unknown parameters are ignored.
    @r.get("/rics")
    async def get_rics(request: Request, policyTypeId: str | None = None) -> dict[str, Any]:
        return _registry(request).rics(policyTypeId)

    @r.get("/rics/{ricId}")
    async def get_ric(request: Request, ricId: str) -> dict[str, Any]:
        return _registry(request).ric(ricId)

    @r.get(
        "/policy-types",
        dependencies=[
            json_only,
            Depends(_only_query("nearRtRicId", "typeName", "compatibleWithVersion")),
        ],
    )
    async def get_policy_types(
        request: Request,
        nearRtRicId: str | None = None,
        typeName: str | None = None,
        compatibleWithVersion: str | None = None,
    ) -> list[dict[str, str]]:
        return _registry(request).policy_types(nearRtRicId, typeName, compatibleWithVersion)

    @r.get("/policy-types/{policyTypeId}", dependencies=[json_only])
    async def get_policy_type(request: Request, policyTypeId: str) -> dict[str, Any]:
        return _registry(request).policy_type(policyTypeId)

    @r.get(
        "/policies",
        dependencies=[
            json_only,
            Depends(_only_query("policyTypeId", "nearRtRicId", "serviceId", "typeName")),
        ],
    )
    async def get_policies(
        request: Request,
        policyTypeId: str | None = None,
        nearRtRicId: str | None = None,
        serviceId: str | None = None,
        typeName: str | None = None,
    ) -> list[dict[str, str]]:
        return _registry(request).policies(policyTypeId, nearRtRicId, serviceId, typeName)

    @r.post("/policies", status_code=201, dependencies=[json_only])
    async def create_policy(request: Request, body: JsonBody) -> JSONResponse:
        created = _registry(request).create_policy(body)
        location = f"{request.url.replace(query='')}/{quote(created['policyId'], safe='')}"
        return JSONResponse(created, status_code=201, headers={"Location": location})

    @r.get("/policies/{policyId}", dependencies=[json_only])
    async def get_policy(request: Request, policyId: str) -> dict[str, Any]:
        return _registry(request).policy(policyId)

    @r.put("/policies/{policyId}", dependencies=[json_only])
    async def update_policy(request: Request, policyId: str, body: JsonBody) -> dict[str, Any]:
        return _registry(request).update_policy(policyId, body)

    @r.delete("/policies/{policyId}", status_code=204, dependencies=[json_only])
    async def delete_policy(request: Request, policyId: str) -> Response:
        _registry(request).delete_policy(policyId)
        return Response(status_code=204)

    @r.get("/policies/{policyId}/status", dependencies=[json_only])
    async def get_policy_status(request: Request, policyId: str) -> dict[str, Any]:
        return _registry(request).policy_status(policyId)

    @r.put("/services")
    async def put_service(request: Request, body: JsonBody) -> JSONResponse:
        created = _registry(request).put_service(body)
        return JSONResponse({}, status_code=201 if created else 200)

    @r.get("/services")
    async def get_services(request: Request, serviceId: str | None = None) -> dict[str, Any]:
        return _registry(request).services(serviceId)

    @r.put("/services/{serviceId}/keepalive")
    async def keepalive(request: Request, serviceId: str) -> dict[str, Any]:
        _registry(request).keepalive(serviceId)
        return {}

    @r.delete("/services/{serviceId}", status_code=204)
    async def delete_service(request: Request, serviceId: str) -> Response:
        _registry(request).delete_service(serviceId)
        return Response(status_code=204)

    return r
