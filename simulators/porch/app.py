"""HTTP face of the Porch simulator: Porch's ``porch.kpt.dev/v1alpha1`` paths, thin.

Routes translate HTTP to ``Store`` calls (run in worker threads: git is blocking) and every
failure, including unknown routes and wrong methods, leaves as a Kubernetes ``v1 Status`` as
kube-apiserver would send it. Before a write reaches the store it may be answered with an
injected conflict (``faults.py``), so an injected conflict never changes anything. The admin
API (``admin.py``) sits beside, under ``/admin``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from simulators.porch import errors
from simulators.porch.admin import admin_router
from simulators.porch.faults import ConflictFaults, Operation
from simulators.porch.names import API_VERSION, revision_name
from simulators.porch.store import DEFAULT_GATE, Store

__all__ = ["BASE_PATH", "create_app"]

BASE_PATH = f"/apis/{API_VERSION}"
DEFAULT_USER = "porch-simulator@localhost"
USER_HEADER = "x-remote-user"
"""Who a request is from, as an aggregated API server is told by kube-apiserver."""

log = logging.getLogger(__name__)

_RESOURCES = [
    {"name": "packagerevisionresources", "singularName": "packagerevisionresources",
     "namespaced": True, "kind": "PackageRevisionResources", "verbs": ["get", "update"]},
    {"name": "packagerevisions", "singularName": "packagerevision", "namespaced": True,
     "kind": "PackageRevision", "verbs": ["create", "delete", "get", "list", "update"]},
    {"name": "packagerevisions/approval", "singularName": "", "namespaced": True,
     "kind": "PackageRevision", "verbs": ["update"]},
]  # fmt: skip


def create_app(
    repositories: Mapping[str, str] | None = None,
    *,
    store: Store | None = None,
    namespace: str = "default",
    workdir: Path | None = None,
    ready_delay_s: float = 0.0,
    readiness_gates: Sequence[str] = (DEFAULT_GATE,),
    sync_interval_s: float = 0.0,
) -> FastAPI:
    """A simulator over ``repositories`` (name -> bare repo path or git URL), synced from git
    before this returns. State: ``app.state.store``; injected conflicts: ``app.state.faults``."""
    if store is None:
        store = Store(
            repositories or {},
            namespace=namespace,
            workdir=workdir,
            ready_delay_s=ready_delay_s,
            readiness_gates=readiness_gates,
        )
    store.sync()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_resync(store, sync_interval_s)) if sync_interval_s > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Porch simulator",
        description="Porch's porch.kpt.dev/v1alpha1 API over real git repositories.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.faults = ConflictFaults()
    app.include_router(_router())
    app.include_router(admin_router())
    app.add_exception_handler(errors.StatusError, _on_status)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    return app


async def _resync(store: Store, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(store.sync)
        except Exception:
            # One failed sync (the remote briefly away) must not end the schedule.
            log.exception("periodic repository sync failed")


async def _on_status(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.StatusError)
    return JSONResponse(exc.to_dict(), status_code=exc.code)


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    text = "; ".join(
        f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()
    )
    status = errors.bad_request(text)
    return JSONResponse(status.to_dict(), status_code=400)


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        status = errors.method_not_allowed()
    elif exc.status_code == 404:
        status = errors.route_not_found()
    else:
        status = errors.StatusError(exc.status_code, "Unknown", str(exc.detail))
    return JSONResponse(status.to_dict(), status_code=status.code)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _user(request: Request) -> str:
    return request.headers.get(USER_HEADER) or DEFAULT_USER


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except ValueError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from e


def _write(
    request: Request, operation: Operation, resource: str, name: str, body: Any = None
) -> None:
    """Count the write, and answer it with an injected conflict if one is due."""
    store = _store(request)
    store.count("writes", operation)
    faults: ConflictFaults = request.app.state.faults
    hit = faults.take(operation)
    if hit is None:
        return
    log.warning("injected %s conflict on %s %s", hit, operation, name)
    if hit == "stale":
        raise errors.stale(resource, name)
    if operation == "create":
        spec = body.get("spec") if isinstance(body, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        parts = [str(spec.get(k, "")) for k in ("repository", "packageName", "workspaceName")]
        raise errors.creation_in_flight(store.namespace, *parts)
    key = f"{store.namespace}/{name}"
    what = (
        "package revision resources"
        if resource == "packagerevisionresources"
        else "package revision"
    )
    raise errors.in_flight(resource, name, what, key)


def _new_name(body: Any) -> str:
    spec = body.get("spec") if isinstance(body, dict) else None
    if isinstance(spec, dict):
        repository, package, workspace = (
            spec.get(k) for k in ("repository", "packageName", "workspaceName")
        )
        if isinstance(repository, str) and isinstance(package, str) and isinstance(workspace, str):
            return revision_name(repository, package, workspace)
    return "(new creation)"


async def _call(fn: Callable[..., dict[str, Any]], *args: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(fn, *args), status_code=status)


def _router() -> APIRouter:
    r = APIRouter()
    ns = f"{BASE_PATH}/namespaces/{{namespace}}"

    @r.get("/healthz", response_class=PlainTextResponse)
    @r.get("/readyz", response_class=PlainTextResponse)
    async def health() -> str:
        return "ok"

    @r.get("/apis/porch.kpt.dev")
    async def api_group() -> dict[str, Any]:
        version = {"groupVersion": API_VERSION, "version": "v1alpha1"}
        return {"kind": "APIGroup", "apiVersion": "v1", "name": "porch.kpt.dev",
                "versions": [version], "preferredVersion": version}  # fmt: skip

    @r.get(BASE_PATH)
    async def api_resources() -> dict[str, Any]:
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
                "resources": _RESOURCES}  # fmt: skip

    @r.get(f"{BASE_PATH}/packagerevisions")
    async def list_all(request: Request) -> JSONResponse:
        store = _store(request)
        return await _list(request, store.namespace)

    @r.get(f"{ns}/packagerevisions")
    async def list_revisions(request: Request, namespace: str) -> JSONResponse:
        return await _list(request, namespace)

    async def _list(request: Request, namespace: str) -> JSONResponse:
        query = request.query_params
        if query.get("watch") in ("1", "true"):
            raise errors.bad_request("watch is not supported by the Porch simulator")
        store = _store(request)
        fields, labels = query.get("fieldSelector"), query.get("labelSelector")
        return await _call(store.list, namespace, fields, labels)

    @r.post(f"{ns}/packagerevisions")
    async def create(request: Request, namespace: str) -> JSONResponse:
        body = await _body(request)
        _write(request, "create", "packagerevisions", _new_name(body), body)
        store = _store(request)
        return await _call(store.create, namespace, body, _user(request), status=201)

    @r.get(f"{ns}/packagerevisions/{{name}}")
    async def get_revision(request: Request, namespace: str, name: str) -> JSONResponse:
        return await _call(_store(request).get, namespace, name)

    @r.put(f"{ns}/packagerevisions/{{name}}")
    async def update(request: Request, namespace: str, name: str) -> JSONResponse:
        body = await _body(request)
        _write(request, "update", "packagerevisions", name)
        return await _call(_store(request).update, namespace, name, body, _user(request))

    @r.delete(f"{ns}/packagerevisions/{{name}}")
    async def delete(request: Request, namespace: str, name: str) -> JSONResponse:
        _store(request).count("writes", "delete")
        return await _call(_store(request).delete, namespace, name, _user(request))

    @r.put(f"{ns}/packagerevisions/{{name}}/approval")
    async def approve(request: Request, namespace: str, name: str) -> JSONResponse:
        body = await _body(request)
        _write(request, "approval", "packagerevisions", name)
        return await _call(_store(request).approve, namespace, name, body, _user(request))

    @r.get(f"{ns}/packagerevisionresources/{{name}}")
    async def get_resources(request: Request, namespace: str, name: str) -> JSONResponse:
        return await _call(_store(request).get_resources, namespace, name)

    @r.put(f"{ns}/packagerevisionresources/{{name}}")
    async def update_resources(request: Request, namespace: str, name: str) -> JSONResponse:
        body = await _body(request)
        _write(request, "resources", "packagerevisionresources", name)
        store = _store(request)
        return await _call(store.update_resources, namespace, name, body, _user(request))

    return r
