"""HTTP face of the A1-PMS v2 API (``/a1-policy/v2``, ``pms-api.yaml``), over the v3 registry.

v2 is the O-RAN SC A1-PMS's "older pre-spec" API, still served beside v3 by the same process:
snake_case JSON, one create-or-update ``PUT /policies`` whose body names the policy, RIC and type,
and a policy read back as its whole ``policy_info``. The routes translate to the registry's calls
(which speak v3's camelCase) and back, so a policy written over one API is the same policy over
the other, and every rule (schema validation, 423 while a RIC synchronises, keepalive expiry)
is the registry's, as it is for v3.

What the spec says per operation, the routes do: no v2 operation lists 406, so ``Accept`` is
ignored; none lists an unknown query parameter as an error, so those are ignored, as the v2
controllers do. ``GET /policy-instances`` sends its 404 as ``application/json``, because that is
the one operation whose spec says so. Where the real A1-PMS refuses a request with a status the
spec does not list, the simulator answers as A1-PMS does (see the README, "v2 and pms-api.yaml").

``Registry`` has no public read of a whole policy, so ``policy_info`` is put together from its
public queries: the RIC, the type and the data always; ``service_id`` when the owner is a
registered service or none; never ``transient`` (the registry keeps it, but nothing public
returns it). ``GET /policies/{id}/status`` has no ``last_modified`` for the same reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from simulators.a1pms.problem import Problem
from simulators.a1pms.registry import Registry
from simulators.a1pms.validation import POLICY_INFO_V2_SCHEMA, SERVICE_V2_SCHEMA, check

__all__ = ["V2_BASE_PATH", "V2_TAG", "v2_router"]

V2_BASE_PATH = "/a1-policy/v2"
V2_TAG = {
    "name": "A1-PMS v2",
    "description": "The older A1-PMS v2 API (pms-api.yaml), over the same state as v3.",
}

# Any JSON at all: the routes check the shape themselves, so their 400s say what v2 expects.
JsonBody = Annotated[Any, Body()]


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def v2_router() -> APIRouter:
    """The v2 routes, relative to ``V2_BASE_PATH`` (``app.py`` mounts them there)."""
    r = APIRouter(tags=[V2_TAG["name"]])

    @r.get("/status")
    async def get_status() -> dict[str, str]:
        return {"status": "success"}

    @r.get("/rics")
    async def get_rics(request: Request, policytype_id: str | None = None) -> dict[str, Any]:
        rics = _registry(request).rics(policytype_id)["rics"]
        return {"rics": [_ric_info(ric) for ric in rics]}

    @r.get("/rics/ric")
    async def get_ric(
        request: Request, managed_element_id: str | None = None, ric_id: str | None = None
    ) -> dict[str, Any]:
        registry = _registry(request)
        # As A1-PMS: exactly one of the two (a 400 the spec does not list).
        if (managed_element_id is None) == (ric_id is None):
            raise Problem(400, "Give one query parameter: ric_id or managed_element_id")
        if ric_id is not None:
            return _ric_info(registry.ric(ric_id))
        for ric in registry.rics()["rics"]:
            if managed_element_id in ric["managedElementIds"]:
                return _ric_info(ric)
        raise Problem(404, f"No Near-RT RIC managing the ME is found: {managed_element_id}")

    @r.get("/policy-types")
    async def get_policy_types(
        request: Request,
        ric_id: str | None = None,
        type_name: str | None = None,
        compatible_with_version: str | None = None,
    ) -> dict[str, list[str]]:
        if compatible_with_version is not None and type_name is None:
            # Checked here so the 400 names v2's parameters, as A1-PMS's does.
            raise Problem(
                400,
                "Parameter compatible_with_version can only be used when type_name is given",
            )
        found = _registry(request).policy_types(ric_id, type_name, compatible_with_version)
        # v2 lists type ids, not (type, RIC) pairs: each once, in the registry's order.
        return {"policytype_ids": list(dict.fromkeys(t["policyTypeId"] for t in found))}

    @r.get("/policy-types/{policytype_id}")
    async def get_policy_type(request: Request, policytype_id: str) -> dict[str, Any]:
        definition = _registry(request).policy_type(policytype_id)
        return {"policy_schema": definition["policySchema"]}

    @r.get("/policies")
    async def get_policies(
        request: Request,
        policytype_id: str | None = None,
        ric_id: str | None = None,
        service_id: str | None = None,
        type_name: str | None = None,
    ) -> dict[str, list[str]]:
        found = _registry(request).policies(policytype_id, ric_id, service_id, type_name)
        return {"policy_ids": [p["policyId"] for p in found]}

    @r.put("/policies")
    async def put_policy(request: Request, body: JsonBody) -> JSONResponse:
        created = _put_policy(_registry(request), body)
        return JSONResponse({}, status_code=201 if created else 200)

    @r.get("/policy-instances")
    async def get_policy_instances(
        request: Request,
        policytype_id: str | None = None,
        ric_id: str | None = None,
        service_id: str | None = None,
        type_name: str | None = None,
    ) -> JSONResponse:
        registry = _registry(request)
        try:
            found = registry.policies(policytype_id, ric_id, service_id, type_name)
        except Problem as problem:
            # The spec gives this operation's 404 as application/json, not problem+json.
            return JSONResponse(
                problem.to_dict(instance=request.url.path), status_code=problem.status
            )
        return JSONResponse({"policies": _policy_infos(registry, found)})

    @r.get("/policies/{policy_id}")
    async def get_policy(request: Request, policy_id: str) -> dict[str, Any]:
        registry = _registry(request)
        registry.policy(policy_id)  # 404 when there is none
        found = [p for p in registry.policies() if p["policyId"] == policy_id]
        return _policy_infos(registry, found)[0]

    @r.delete("/policies/{policy_id}")
    async def delete_policy(request: Request, policy_id: str) -> dict[str, Any]:
        _registry(request).delete_policy(policy_id)
        # 200 with an empty object, as the spec says (the Java service sends 204, no body).
        return {}

    @r.get("/policies/{policy_id}/status")
    async def get_policy_status(request: Request, policy_id: str) -> dict[str, Any]:
        return {"status": _registry(request).policy_status(policy_id)}

    @r.put("/services")
    async def put_service(request: Request, body: JsonBody) -> JSONResponse:
        check(SERVICE_V2_SCHEMA, body, "Invalid service_registration_info")
        info: dict[str, Any] = {
            "serviceId": body["service_id"],
            "keepAliveIntervalSeconds": body.get("keep_alive_interval_seconds", 0),
        }
        if "callback_url" in body:
            info["callbackUrl"] = body["callback_url"]
        created = _registry(request).put_service(info)
        return JSONResponse({}, status_code=201 if created else 200)

    @r.get("/services")
    async def get_services(request: Request, service_id: str | None = None) -> dict[str, Any]:
        services = _registry(request).services(service_id)["serviceList"]
        return {"service_list": [_service_status(s) for s in services]}

    @r.put("/services/{service_id}/keepalive")
    async def keepalive(request: Request, service_id: str) -> dict[str, Any]:
        _registry(request).keepalive(service_id)
        return {}

    @r.delete("/services/{service_id}", status_code=204)
    async def delete_service(request: Request, service_id: str) -> Response:
        _registry(request).delete_service(service_id)
        return Response(status_code=204)

    return r


def _ric_info(ric: dict[str, Any]) -> dict[str, Any]:
    return {
        "ric_id": ric["ricId"],
        "managed_element_ids": ric["managedElementIds"],
        "state": ric["state"],
        "policytype_ids": ric["policyTypeIds"],
    }


def _service_status(status: dict[str, Any]) -> dict[str, Any]:
    v2 = {
        "service_id": status["serviceId"],
        "keep_alive_interval_seconds": status["keepAliveIntervalSeconds"],
        "time_since_last_activity_seconds": status["timeSinceLastActivitySeconds"],
    }
    if "callbackUrl" in status:
        v2["callback_url"] = status["callbackUrl"]
    return v2


def _put_policy(registry: Registry, info: Any) -> bool:
    """``PUT /policies``: create the policy, or replace the data of the one with that id; True
    if created.

    As A1-PMS: a policy cannot move to another RIC (409). A1-PMS would also let it change type
    or owner; the registry cannot change those in place, and deleting and creating it again
    could lose it if its (real, fronted) RIC failed between the two, so that is a 409 as well.
    """
    check(POLICY_INFO_V2_SCHEMA, info, "Invalid policy_info")
    policy_id: str = info["policy_id"]
    ric_id: str = info["ric_id"]
    type_id: str = info["policytype_id"]
    service_id: str = info.get("service_id", "")
    current = next((p for p in registry.policies() if p["policyId"] == policy_id), None)
    if current is None:
        registry.create_policy(
            {
                "policyId": policy_id,
                "nearRtRicId": ric_id,
                "policyTypeId": type_id,
                "serviceId": service_id,
                "transient": info.get("transient", False),
                "policyObject": info["policy_data"],
            }
        )
        return True
    if current["nearRtRicId"] != ric_id:
        raise Problem(
            409,
            f"Policy cannot change RIC, policyId: {policy_id}, "
            f"RIC ID: {current['nearRtRicId']}, new ID: {ric_id}",
        )
    registry.policy_type(type_id)  # 404 for a type that does not exist, as on create
    if not _holds(registry.policies(policy_type_id=type_id), policy_id):
        raise Problem(409, f"Policy cannot change type here, policyId: {policy_id}: delete it")
    if not _holds(registry.policies(service_id=service_id), policy_id):
        raise Problem(409, f"Policy cannot change owner here, policyId: {policy_id}: delete it")
    # The stored ``transient`` stays: nothing public in the registry changes it.
    registry.update_policy(policy_id, info["policy_data"])
    return False


def _holds(policies: list[dict[str, str]], policy_id: str) -> bool:
    return any(p["policyId"] == policy_id for p in policies)


def _policy_infos(registry: Registry, policies: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The v2 ``policy_info`` of each of ``policies`` (entries of ``Registry.policies``).

    Built from the registry's public filters (see the module docstring): a policy's type is the
    one whose filter lists it, its owner the registered service (or none, ``""``) whose filter
    lists it; an owner that is not registered cannot be found, and is left out.
    """
    if not policies:
        return []
    type_of: dict[str, str] = {}
    for type_id in dict.fromkeys(t["policyTypeId"] for t in registry.policy_types()):
        for p in registry.policies(policy_type_id=type_id):
            type_of[p["policyId"]] = type_id
    owner_of: dict[str, str] = {}
    for owner in ["", *(s["serviceId"] for s in registry.services()["serviceList"])]:
        for p in registry.policies(service_id=owner):
            owner_of[p["policyId"]] = owner
    infos = []
    for p in policies:
        policy_id = p["policyId"]
        if policy_id not in type_of:
            raise Problem(500, f"Policy {policy_id} has a type no Near-RT RIC supports")
        info: dict[str, Any] = {
            "policy_id": policy_id,
            "ric_id": p["nearRtRicId"],
            "policytype_id": type_of[policy_id],
            "policy_data": registry.policy(policy_id),
        }
        if policy_id in owner_of:
            info["service_id"] = owner_of[policy_id]
        infos.append(info)
    return infos
