"""What goes over the wire to an A1-PMS, in each of its two API dialects, and what comes back.

v3 (``/a1-policy-management/v1``, R1-style, camelCase) and v2 (``/a1-policy/v2``, the O-RAN SC
releases before J, snake_case) say the same things differently: v3 creates with ``POST`` and
updates with ``PUT /policies/{id}``, v2 does both with one ``PUT /policies``; v2 wraps a type's
schema in ``policy_schema``, a policy's data in its ``policy_info`` and its status in
``{"status": ...}``. Each dialect here turns the client's calls into its own requests and the
answers back into one shape (v3's), so ``A1Client`` and its callers never see which was spoken.

The value and error types live here because both dialects make them; ``rapp.enact.a1`` is where
callers import them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

__all__ = ["A1Error", "A1Policy", "RicInfo", "V2Wire", "V3Wire", "Wire", "expect"]

Api = Literal["v3", "v2"]


@dataclass(frozen=True, slots=True)
class A1Policy:
    """One A1 policy instance as the rApp wants it to be."""

    policy_id: str
    ric_id: str
    policy_type_id: str
    service_id: str
    body: dict[str, Any]
    transient: bool = False


@dataclass(frozen=True, slots=True)
class RicInfo:
    """A Near-RT RIC as the A1-PMS knows it."""

    ric_id: str
    state: str
    """``AVAILABLE``, ``UNAVAILABLE``, ``SYNCHRONIZING`` (policy changes get 423) or
    ``CONSISTENCY_CHECK``."""
    policy_type_ids: tuple[str, ...]


class A1Error(Exception):
    """A1-PMS answered with a status the call cannot handle; ``problem`` is its RFC 7807 body."""

    def __init__(self, status: int, problem: dict[str, Any] | None = None) -> None:
        self.status = status
        self.problem: dict[str, Any] = problem or {}
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown Status"
        detail = self.problem.get("detail") or self.problem.get("title") or "(no detail)"
        super().__init__(f"A1-PMS {status} {phrase}: {detail}")


class Wire(Protocol):
    """One API dialect. Reads of what does not exist are None or False, never an error."""

    api: Api
    status_path: str

    async def register_service(
        self, service_id: str, keepalive_s: int, callback_url: str | None
    ) -> None: ...
    async def keepalive(self, service_id: str) -> None: ...
    async def deregister_service(self, service_id: str) -> bool: ...
    async def policy_type(self, policy_type_id: str) -> dict[str, Any]: ...
    async def policy_type_ids(self, ric_id: str | None) -> list[str]: ...
    async def rics(self) -> list[RicInfo]: ...
    async def get_policy(self, policy_id: str) -> dict[str, Any] | None: ...
    async def put_policy(self, policy: A1Policy) -> Literal["created", "updated"]: ...
    async def policy_status(self, policy_id: str) -> dict[str, Any] | None: ...
    async def delete_policy(self, policy_id: str) -> bool: ...
    async def list_policies(
        self, service_id: str | None, policy_type_id: str | None
    ) -> list[str]: ...


class V3Wire:
    """``/a1-policy-management/v1``: the R1-style API, camelCase."""

    api: Api = "v3"
    prefix = "/a1-policy-management/v1"
    status_path = f"{prefix}/status"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def register_service(
        self, service_id: str, keepalive_s: int, callback_url: str | None
    ) -> None:
        info: dict[str, Any] = {"serviceId": service_id, "keepAliveIntervalSeconds": keepalive_s}
        if callback_url is not None:
            info["callbackUrl"] = callback_url
        expect(await self._http.put(f"{self.prefix}/services", json=info), 200, 201)

    async def keepalive(self, service_id: str) -> None:
        path = f"{self.prefix}/services/{_seg(service_id)}/keepalive"
        expect(await self._http.put(path), 200)

    async def deregister_service(self, service_id: str) -> bool:
        response = await self._http.delete(f"{self.prefix}/services/{_seg(service_id)}")
        if response.status_code == 404:
            return False
        expect(response, 204, 200)
        return True

    async def policy_type(self, policy_type_id: str) -> dict[str, Any]:
        response = await self._http.get(f"{self.prefix}/policy-types/{_seg(policy_type_id)}")
        expect(response, 200)
        return _object(response)

    async def policy_type_ids(self, ric_id: str | None) -> list[str]:
        params = {} if ric_id is None else {"nearRtRicId": ric_id}
        response = await self._http.get(f"{self.prefix}/policy-types", params=params)
        expect(response, 200)
        # One entry per (type, RIC): a type two RICs support is listed twice.
        return list(dict.fromkeys(str(t["policyTypeId"]) for t in response.json()))

    async def rics(self) -> list[RicInfo]:
        response = await self._http.get(f"{self.prefix}/rics")
        expect(response, 200)
        return [
            RicInfo(str(r["ricId"]), str(r.get("state", "")), tuple(r.get("policyTypeIds", ())))
            for r in response.json().get("rics", ())
        ]

    async def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        return await _found(self._http, f"{self.prefix}/policies/{_seg(policy_id)}")

    async def put_policy(self, policy: A1Policy) -> Literal["created", "updated"]:
        # Create first: the common case is a new id. On update A1-PMS keeps the existing
        # policy's RIC and type; ids derived from decision ids make a clash a bug upstream.
        info = {
            "policyId": policy.policy_id,
            "nearRtRicId": policy.ric_id,
            "policyTypeId": policy.policy_type_id,
            "serviceId": policy.service_id,
            "transient": policy.transient,
            "policyObject": policy.body,
        }
        response = await self._http.post(f"{self.prefix}/policies", json=info)
        if response.status_code != 409:
            expect(response, 201)
            return "created"
        path = f"{self.prefix}/policies/{_seg(policy.policy_id)}"
        expect(await self._http.put(path, json=policy.body), 200)
        return "updated"

    async def policy_status(self, policy_id: str) -> dict[str, Any] | None:
        return await _found(self._http, f"{self.prefix}/policies/{_seg(policy_id)}/status")

    async def delete_policy(self, policy_id: str) -> bool:
        response = await self._http.delete(f"{self.prefix}/policies/{_seg(policy_id)}")
        if response.status_code == 404:
            return False
        expect(response, 204, 200)
        return True

    async def list_policies(self, service_id: str | None, policy_type_id: str | None) -> list[str]:
        params = {}
        if service_id is not None:
            params["serviceId"] = service_id
        if policy_type_id is not None:
            params["policyTypeId"] = policy_type_id
        response = await self._http.get(f"{self.prefix}/policies", params=params)
        expect(response, 200)
        return [str(item["policyId"]) for item in response.json()]


class V2Wire:
    """``/a1-policy/v2``: the older pre-spec API, snake_case."""

    api: Api = "v2"
    prefix = "/a1-policy/v2"
    status_path = f"{prefix}/status"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def register_service(
        self, service_id: str, keepalive_s: int, callback_url: str | None
    ) -> None:
        info: dict[str, Any] = {
            "service_id": service_id,
            "keep_alive_interval_seconds": keepalive_s,
        }
        if callback_url is not None:
            info["callback_url"] = callback_url
        expect(await self._http.put(f"{self.prefix}/services", json=info), 200, 201)

    async def keepalive(self, service_id: str) -> None:
        path = f"{self.prefix}/services/{_seg(service_id)}/keepalive"
        expect(await self._http.put(path), 200)

    async def deregister_service(self, service_id: str) -> bool:
        response = await self._http.delete(f"{self.prefix}/services/{_seg(service_id)}")
        if response.status_code == 404:
            return False
        expect(response, 204, 200)
        return True

    async def policy_type(self, policy_type_id: str) -> dict[str, Any]:
        response = await self._http.get(f"{self.prefix}/policy-types/{_seg(policy_type_id)}")
        expect(response, 200)
        # v2 has the schema alone, under policy_schema; callers get v3's PolicyTypeObject.
        schema = _object(response).get("policy_schema")
        return {} if schema is None else {"policySchema": schema}

    async def policy_type_ids(self, ric_id: str | None) -> list[str]:
        params = {} if ric_id is None else {"ric_id": ric_id}
        response = await self._http.get(f"{self.prefix}/policy-types", params=params)
        expect(response, 200)
        return [str(t) for t in _object(response).get("policytype_ids", ())]

    async def rics(self) -> list[RicInfo]:
        response = await self._http.get(f"{self.prefix}/rics")
        expect(response, 200)
        return [
            RicInfo(str(r["ric_id"]), str(r.get("state", "")), tuple(r.get("policytype_ids", ())))
            for r in _object(response).get("rics", ())
        ]

    async def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        info = await _found(self._http, f"{self.prefix}/policies/{_seg(policy_id)}")
        return None if info is None else _member(info, "policy_data")

    async def put_policy(self, policy: A1Policy) -> Literal["created", "updated"]:
        info = {
            "policy_id": policy.policy_id,
            "ric_id": policy.ric_id,
            "policytype_id": policy.policy_type_id,
            "service_id": policy.service_id,
            "transient": policy.transient,
            "policy_data": policy.body,
        }
        response = await self._http.put(f"{self.prefix}/policies", json=info)
        expect(response, 201, 200)
        return "created" if response.status_code == 201 else "updated"

    async def policy_status(self, policy_id: str) -> dict[str, Any] | None:
        info = await _found(self._http, f"{self.prefix}/policies/{_seg(policy_id)}/status")
        # v2 wraps what the RIC reports: {"last_modified": ..., "status": {...}}.
        return None if info is None else _member(info, "status")

    async def delete_policy(self, policy_id: str) -> bool:
        response = await self._http.delete(f"{self.prefix}/policies/{_seg(policy_id)}")
        if response.status_code == 404:
            return False
        # The spec says 200; the Java service sends 204.
        expect(response, 200, 204)
        return True

    async def list_policies(self, service_id: str | None, policy_type_id: str | None) -> list[str]:
        params = {}
        if service_id is not None:
            params["service_id"] = service_id
        if policy_type_id is not None:
            params["policytype_id"] = policy_type_id
        response = await self._http.get(f"{self.prefix}/policies", params=params)
        expect(response, 200)
        return [str(p) for p in _object(response).get("policy_ids", ())]


def _seg(value: str) -> str:
    """One path segment: ids may hold characters with a meaning in URLs."""
    return quote(value, safe="")


def expect(response: httpx.Response, *ok: int) -> None:
    """Raise ``A1Error`` unless the response has one of the ``ok`` statuses."""
    if response.status_code in ok:
        return
    raise A1Error(response.status_code, _problem(response))


async def _found(http: httpx.AsyncClient, path: str) -> dict[str, Any] | None:
    """The JSON object at ``path``, or None on 404."""
    response = await http.get(path)
    if response.status_code == 404:
        return None
    expect(response, 200)
    return _object(response)


def _object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        # A malformed answer will not mend itself: an A1Error that is not transient.
        raise A1Error(response.status_code, {"detail": f"expected a JSON object, got {body!r}"})
    return body


def _member(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise A1Error(200, {"detail": f"expected a JSON object as {key!r}, got {value!r}"})
    return value


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        # Not a problem document (e.g. a proxy's HTML page): the status alone must do.
        return {}
    return body if isinstance(body, dict) else {}
