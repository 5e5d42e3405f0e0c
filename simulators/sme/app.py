"""HTTP face of the SME simulator: the CAPIF core APIs of TS 29.222 as O-RAN SC capifcore serves
them, plus ``/healthz`` and an admin API that is not part of CAPIF.

* ``/api-provider-management/v1/registrations[/{registrationId}]``
* ``/published-apis/v1/{apfId}/service-apis[/{serviceApiId}]``
* ``/api-invoker-management/v1/onboardedInvokers[/{onboardingId}]``
* ``/service-apis/v1/allServiceAPIs``

Routes only translate HTTP to ``Capif`` calls (``capif.py``), whose refusals leave as
``application/problem+json`` ``ProblemDetails`` with capifcore's ``cause`` and ``status``. The
state is on ``app.state.capif``, pending faults on ``app.state.faults``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from simulators.problems import answer_problems, problem_response
from simulators.sme.capif import Capif, CapifProblem, DiscoveryQuery, canonical_keys
from simulators.sme.faults import FaultQueue, FaultSpec
from simulators.sme.platform import Seed, onboard_invoker, seed_nonrtric

__all__ = ["create_app", "reset", "state"]

log = logging.getLogger(__name__)

PROVIDER_BASE = "/api-provider-management/v1"
PUBLISH_BASE = "/published-apis/v1"
INVOKER_BASE = "/api-invoker-management/v1"
DISCOVERY_BASE = "/service-apis/v1"


def create_app(
    *,
    seed_a1pms: str | None = None,
    seed_ics: str | None = None,
    rapp_roots: bool = True,
    invokers: Sequence[str] = (),
    empty_list: bool = False,
) -> FastAPI:
    """A fresh CAPIF core.

    ``seed_a1pms``/``seed_ics``: base URLs of the A1-PMS and ICS to publish as the SMO install
    does (``platform.seed_nonrtric``); ``invokers``: ``apiInvokerInformation`` values to onboard
    after seeding (their ids on ``app.state.seeded_invokers``); ``empty_list``: answer a
    discovery that matches nothing with ``{"serviceAPIDescriptions": []}`` as capifcore does,
    instead of TS 29.222's ``{}`` (the array has ``minItems: 1``).
    """
    app = FastAPI(
        title="SME / CAPIF core simulator (TS 29.222, O-RAN SC capifcore)",
        description=(
            "The CAPIF core function of O-RAN SC SME (capifcore) in memory: provider "
            "management, publish, invoker management and discovery, with an admin API for "
            "reset and faults."
        ),
        openapi_tags=[
            {"name": "CAPIF", "description": "TS 29.222 CAPIF core APIs, as capifcore."},
            {"name": "admin", "description": "Simulator control, not part of CAPIF."},
        ],
    )
    app.state.capif = Capif()
    app.state.faults = FaultQueue()
    app.state.seed = Seed(seed_a1pms, seed_ics, rapp_roots)
    app.state.invoker_infos = tuple(invokers)
    app.state.seeded_invokers = {}
    app.state.empty_list = empty_list
    reset(app)
    app.include_router(_provider_router())
    app.include_router(_publish_router())
    app.include_router(_invoker_router())
    app.include_router(_discovery_router())
    app.include_router(_admin_router())
    app.middleware("http")(_apply_faults)
    answer_problems(app)

    @app.get("/healthz", tags=["admin"], summary="Liveness (not part of CAPIF)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def state(app: FastAPI) -> Capif:
    """The app's CAPIF state, for tests that arrange it directly."""
    capif: Capif = app.state.capif
    return capif


def reset(app: FastAPI, *, keep_seed: bool = True) -> dict[str, Any]:
    """Forget everything (faults too); then, unless ``keep_seed`` is False, publish the seeded
    platform APIs and onboard the seeded invokers again (same ids: they are derived)."""
    capif = state(app)
    capif.clear()
    app.state.faults.clear()
    app.state.seeded_invokers = {}
    if not keep_seed:
        return {"published": {}, "invokers": {}}
    seed: Seed = app.state.seed
    published = seed_nonrtric(capif, seed.a1pms_url, seed.ics_url, rapp_roots=seed.rapp_roots)
    for info in app.state.invoker_infos:
        app.state.seeded_invokers[info] = onboard_invoker(capif, info)
        log.info("onboarded invoker %s", app.state.seeded_invokers[info])
    return {"published": published, "invokers": dict(app.state.seeded_invokers)}


def _capif(request: Request) -> Capif:
    return state(request.app)


async def _body(request: Request, what: str) -> Any:
    """The JSON body, keys in capifcore's spelling; a body that is not JSON is a 400 as
    capifcore's ``ctx.Bind`` failure."""
    try:
        return canonical_keys(await request.json())
    except ValueError:
        raise CapifProblem(400, what) from None


def _created(request: Request, body: dict[str, Any], new_id: str) -> JSONResponse:
    """201 with capifcore's ``Location``: the request URL with the new id appended."""
    url = request.url
    location = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}/{new_id}"
    return JSONResponse(body, status_code=201, headers={"Location": location})


def _not_implemented() -> Response:
    """capifcore answers every PATCH with a bare 501."""
    return Response(status_code=501)


def _provider_router() -> APIRouter:
    r = APIRouter(prefix=PROVIDER_BASE, tags=["CAPIF"])

    @r.post("/registrations", summary="Register an API provider domain")
    async def register(request: Request) -> JSONResponse:
        body = await _body(
            request, "Unable to register provider due to invalid format for provider"
        )
        provider = _capif(request).register_provider(body)
        return _created(request, provider, provider["apiProvDomId"])

    @r.get(
        "/registrations/{registrationId}",
        summary="A registration (simulator extension: not in capifcore nor TS 29.222 Rel-17)",
    )
    async def get_registration(request: Request, registrationId: str) -> dict[str, Any]:
        return _capif(request).get_provider(registrationId)

    @r.put("/registrations/{registrationId}", summary="Update a registration")
    async def update(request: Request, registrationId: str) -> dict[str, Any]:
        body = await _body(request, "Unable to update provider due to invalid format for provider.")
        return _capif(request).update_provider(registrationId, body)

    @r.patch("/registrations/{registrationId}", summary="Not implemented (as capifcore)")
    async def modify(registrationId: str) -> Response:
        return _not_implemented()

    @r.delete("/registrations/{registrationId}", status_code=204, summary="Deregister")
    async def deregister(request: Request, registrationId: str) -> Response:
        _capif(request).delete_provider(registrationId)
        return Response(status_code=204)

    return r


def _publish_router() -> APIRouter:
    r = APIRouter(prefix=PUBLISH_BASE, tags=["CAPIF"])

    @r.get("/{apfId}/service-apis", summary="The APIs an APF published")
    async def list_apis(request: Request, apfId: str) -> list[dict[str, Any]]:
        return _capif(request).list_published(apfId)

    @r.post("/{apfId}/service-apis", summary="Publish a service API")
    async def publish(request: Request, apfId: str) -> JSONResponse:
        body = await _body(
            request, f"Unable to publish the service due to invalid format for service {apfId} "
        )
        api = _capif(request).publish(apfId, body)
        return _created(request, api, api["apiId"])

    @r.get("/{apfId}/service-apis/{serviceApiId}", summary="A published service API")
    async def get_api(request: Request, apfId: str, serviceApiId: str) -> dict[str, Any]:
        return _capif(request).get_published(apfId, serviceApiId)

    @r.put("/{apfId}/service-apis/{serviceApiId}", summary="Update a published service API")
    async def update(request: Request, apfId: str, serviceApiId: str) -> dict[str, Any]:
        body = await _body(request, "Unable to update service due to invalid format for service.")
        return _capif(request).update_published(apfId, serviceApiId, body)

    @r.patch("/{apfId}/service-apis/{serviceApiId}", summary="Not implemented (as capifcore)")
    async def modify(apfId: str, serviceApiId: str) -> Response:
        return _not_implemented()

    @r.delete("/{apfId}/service-apis/{serviceApiId}", status_code=204, summary="Unpublish")
    async def unpublish(request: Request, apfId: str, serviceApiId: str) -> Response:
        _capif(request).unpublish(apfId, serviceApiId)
        return Response(status_code=204)

    return r


def _invoker_router() -> APIRouter:
    r = APIRouter(prefix=INVOKER_BASE, tags=["CAPIF"])

    @r.post("/onboardedInvokers", summary="Onboard an API invoker")
    async def onboard(request: Request) -> JSONResponse:
        body = await _body(request, "Unable to onboard invoker due to invalid format for invoker")
        invoker = _capif(request).onboard(body)
        return _created(request, invoker, invoker["apiInvokerId"])

    @r.put("/onboardedInvokers/{onboardingId}", summary="Update an onboarded invoker")
    async def update(request: Request, onboardingId: str) -> dict[str, Any]:
        body = await _body(request, "Unable to update invoker due to invalid format for invoker")
        return _capif(request).update_invoker(onboardingId, body)

    @r.patch("/onboardedInvokers/{onboardingId}", summary="Not implemented (as capifcore)")
    async def modify(onboardingId: str) -> Response:
        return _not_implemented()

    @r.delete("/onboardedInvokers/{onboardingId}", status_code=204, summary="Offboard")
    async def offboard(request: Request, onboardingId: str) -> Response:
        _capif(request).offboard(onboardingId)
        return Response(status_code=204)

    return r


def _discovery_router() -> APIRouter:
    r = APIRouter(prefix=DISCOVERY_BASE, tags=["CAPIF"])

    @r.get("/allServiceAPIs", summary="Discover published service APIs")
    async def discover(request: Request) -> dict[str, Any]:
        query = DiscoveryQuery.from_params(dict(request.query_params))
        found = _capif(request).discover(query)
        if found or request.app.state.empty_list:
            return {"serviceAPIDescriptions": found}
        return {}

    return r


def _admin_router() -> APIRouter:
    r = APIRouter(prefix="/admin", tags=["admin"])

    @r.post("/reset", summary="Forget everything, then seed again unless keep_seed=false")
    async def do_reset(request: Request, keep_seed: bool = True) -> dict[str, Any]:
        return reset(request.app, keep_seed=keep_seed)

    @r.get("/state", summary="Providers, published APIs and invokers, as stored")
    async def dump(request: Request) -> dict[str, Any]:
        capif = _capif(request)
        return {
            "providers": capif.providers,
            "published": capif.published,
            "invokers": capif.invokers,
        }

    @r.post("/faults", status_code=201, summary="Queue a fault for the next CAPIF requests")
    async def add_fault(request: Request, spec: FaultSpec) -> dict[str, Any]:
        queue: FaultQueue = request.app.state.faults
        return queue.add(spec).to_dict()

    @r.get("/faults", summary="List pending faults")
    async def list_faults(request: Request) -> dict[str, Any]:
        queue: FaultQueue = request.app.state.faults
        return {"faults": [f.to_dict() for f in queue.pending()]}

    @r.delete("/faults", status_code=204, summary="Clear every pending fault")
    async def clear_faults(request: Request) -> Response:
        request.app.state.faults.clear()
        return Response(status_code=204)

    return r


async def _apply_faults(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    queue: FaultQueue = request.app.state.faults
    fault = queue.take(request.url.path)
    if fault is None:
        return await call_next(request)
    log.info("fault %d hits %s %s", fault.id, request.method, request.url.path)
    if fault.spec.delay_s:
        await asyncio.sleep(fault.spec.delay_s)
    if fault.spec.status is None:
        return await call_next(request)
    problem = CapifProblem(fault.spec.status, "Injected by the SME simulator's admin API")
    return problem_response(problem, request)
