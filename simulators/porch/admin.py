"""The simulator's admin API under ``/admin``: not part of Porch, there for tests and demos.

``POST /admin/conflicts``
    Inject conflicts (body: ``faults.ConflictSpec``): ``{"stale_every": 2}`` answers every second
    write (create, update, approval, resources PUT) with Porch's 500 "the object has been
    modified", ``{"in_flight_every": 3}`` every third with 409 "another request is already in
    progress"; ``count`` stops after that many, ``operations`` limits which writes count. The
    write does not happen. Replaces any earlier setting; 200 with the setting.
``GET /admin/conflicts`` / ``DELETE /admin/conflicts``
    The active setting and what it injected so far / stop injecting (204).
``POST /admin/sync``
    Re-read every repository from git now (Porch's repository sync): revisions written
    straight to git appear, vanished ones go. 200 with what was added, changed and removed.
``GET /admin/stats``
    Write requests by operation, writes applied, conflicts (injected and real), revisions by
    lifecycle, syncs.
``PUT /admin/packagerevisions/{name}/conditions``
    ``{"conditions": [{"type": "...", "status": "False", "reason": "...", "message": "..."}]}``:
    report these conditions for the revision from now on (an empty list: simulate again).
    200 with the PackageRevision.

Admin paths are never faulted. Errors are Kubernetes ``Status`` objects like the Porch paths.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from simulators.porch.faults import ConflictFaults, ConflictSpec
from simulators.porch.store import Store


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditions: list[Condition]


def admin_router() -> APIRouter:
    r = APIRouter(prefix="/admin", tags=["admin"])

    def faults(request: Request) -> ConflictFaults:
        injector: ConflictFaults = request.app.state.faults
        return injector

    def store(request: Request) -> Store:
        s: Store = request.app.state.store
        return s

    @r.post("/conflicts", summary="Answer some writes with a conflict instead of serving them")
    async def set_conflicts(request: Request, spec: ConflictSpec) -> dict[str, Any]:
        return faults(request).set(spec)

    @r.get("/conflicts", summary="The active conflict injection and its counts")
    async def get_conflicts(request: Request) -> dict[str, Any]:
        return faults(request).describe()

    @r.delete("/conflicts", status_code=204, summary="Stop injecting conflicts")
    async def clear_conflicts(request: Request) -> Response:
        faults(request).clear()
        return Response(status_code=204)

    @r.post("/sync", summary="Re-read every repository from git")
    async def sync(request: Request) -> dict[str, Any]:
        return {"repositories": await run_in_threadpool(store(request).sync)}

    @r.get("/stats", summary="Writes, conflicts and revisions counted")
    async def stats(request: Request) -> dict[str, Any]:
        counted = await run_in_threadpool(store(request).stats)
        counted["conflicts"]["injected"] = faults(request).describe()["injected"]
        return counted

    @r.put("/packagerevisions/{name}/conditions", summary="Set a revision's conditions")
    async def set_conditions(request: Request, name: str, body: Conditions) -> dict[str, Any]:
        conditions = [c.model_dump(exclude_none=True) for c in body.conditions]
        return await run_in_threadpool(store(request).set_conditions, name, conditions)

    return r
