"""HTTP face of the A1-PMS simulator: the v3 (``/a1-policy-management/v1``) paths the rApp uses.

Routes only translate HTTP to ``Registry`` calls; every rule lives in ``registry.py``. Every error,
including FastAPI's own request validation and unknown routes, leaves as RFC 7807
``application/problem+json``, because that is what a real A1-PMS sends and what clients parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from simulators.a1pms.registry import Problem, Registry, SimulatorConfig

BASE_PATH = "/a1-policy-management/v1"
PROBLEM_JSON = "application/problem+json"

# Any JSON at all: the registry checks the shape itself, so its 400s say what the spec expects.
JsonBody = Annotated[Any, Body()]

log = logging.getLogger(__name__)


def create_app(
    config: SimulatorConfig | None = None, *, keepalive_check_interval: float = 1.0
) -> FastAPI:
    """A fresh simulator; its state lives on ``app.state.registry``."""
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

    app = FastAPI(
        title="A1-PMS simulator",
        description="Serves the O-RAN SC A1 Policy Management Service v3 API from memory.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.include_router(_router())
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    return app


async def _supervise(registry: Registry, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            registry.expire_services()
        except Exception:
            # One bad sweep must not end supervision for the rest of the run.
            log.exception("keepalive supervision failed")


def _problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return _problem_response(exc, request)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'/'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()
    )
    return _problem_response(Problem(400, f"Malformed request: {details}"), request)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    response = _problem_response(Problem(exc.status_code, detail), request)
    response.headers.update(exc.headers or {})
    return response


def _only_query(*allowed: str) -> Callable[[Request], None]:
    """A dependency that refuses unknown query parameters, as A1-PMS v3 does."""

    def check(request: Request) -> None:
        unexpected = sorted(set(request.query_params) - set(allowed))
        if unexpected:
            raise Problem(400, f"Unexpected query parameters: {', '.join(unexpected)}")

    return check


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _router() -> APIRouter:
    r = APIRouter(prefix=BASE_PATH)

    @r.get("/status")
    async def get_status() -> dict[str, str]:
        return {"status": "success"}

    @r.get("/rics")
    async def get_rics(request: Request, policyTypeId: str | None = None) -> dict[str, Any]:
        return _registry(request).rics(policyTypeId)

    @r.get("/rics/{ricId}")
    async def get_ric(request: Request, ricId: str) -> dict[str, Any]:
        return _registry(request).ric(ricId)

    @r.get(
        "/policy-types",
        dependencies=[Depends(_only_query("nearRtRicId", "typeName", "compatibleWithVersion"))],
    )
    async def get_policy_types(
        request: Request,
        nearRtRicId: str | None = None,
        typeName: str | None = None,
        compatibleWithVersion: str | None = None,
    ) -> list[dict[str, str]]:
        return _registry(request).policy_types(nearRtRicId, typeName, compatibleWithVersion)

    @r.get("/policy-types/{policyTypeId}")
    async def get_policy_type(request: Request, policyTypeId: str) -> dict[str, Any]:
        return _registry(request).policy_type(policyTypeId)

    @r.get(
        "/policies",
        dependencies=[Depends(_only_query("policyTypeId", "nearRtRicId", "serviceId", "typeName"))],
    )
    async def get_policies(
        request: Request,
        policyTypeId: str | None = None,
        nearRtRicId: str | None = None,
        serviceId: str | None = None,
        typeName: str | None = None,
    ) -> list[dict[str, str]]:
        return _registry(request).policies(policyTypeId, nearRtRicId, serviceId, typeName)

    @r.post("/policies", status_code=201)
    async def create_policy(request: Request, body: JsonBody) -> JSONResponse:
        created = _registry(request).create_policy(body)
        location = f"{request.url.replace(query='')}/{quote(created['policyId'], safe='')}"
        return JSONResponse(created, status_code=201, headers={"Location": location})

    @r.get("/policies/{policyId}")
    async def get_policy(request: Request, policyId: str) -> dict[str, Any]:
        return _registry(request).policy(policyId)

    @r.put("/policies/{policyId}")
    async def update_policy(request: Request, policyId: str, body: JsonBody) -> dict[str, Any]:
        return _registry(request).update_policy(policyId, body)

    @r.delete("/policies/{policyId}", status_code=204)
    async def delete_policy(request: Request, policyId: str) -> Response:
        _registry(request).delete_policy(policyId)
        return Response(status_code=204)

    @r.get("/policies/{policyId}/status")
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
