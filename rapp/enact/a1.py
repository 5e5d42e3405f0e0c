"""The rApp's client for the A1 Policy Management Service, v3 API (``/a1-policy-management/v1``).

Every call is safe to repeat, because the enactment saga runs each step at least once:
``put_policy`` creates or updates under a caller-chosen id, ``delete_policy`` of an id that is
already gone is not an error. The client never retries: the saga owns retries, so timeouts and
connection errors surface as the httpx exceptions they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx

API_PATH = "/a1-policy-management/v1"


@dataclass(frozen=True, slots=True)
class A1Policy:
    """One A1 policy instance as the rApp wants it to be."""

    policy_id: str
    ric_id: str
    policy_type_id: str
    service_id: str
    body: dict[str, Any]
    transient: bool = False


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


class A1Client:
    """Async client for the A1-PMS endpoints the rApp needs; one per process, reuse it."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + API_PATH,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def ready(self) -> bool:
        """True when A1-PMS answers its status check; False when it is down or unreachable."""
        try:
            response = await self._http.get("/status")
        except httpx.TransportError:
            # A readiness probe wants a yes or no, not an exception.
            return False
        return response.status_code == 200

    async def register_service(
        self, service_id: str, *, keepalive_s: int = 0, callback_url: str | None = None
    ) -> None:
        """Register (or re-register) the rApp; with ``keepalive_s > 0`` it must call keepalive."""
        info: dict[str, Any] = {"serviceId": service_id, "keepAliveIntervalSeconds": keepalive_s}
        if callback_url is not None:
            info["callbackUrl"] = callback_url
        _expect(await self._http.put("/services", json=info), 200, 201)

    async def keepalive(self, service_id: str) -> None:
        _expect(await self._http.put(f"/services/{_seg(service_id)}/keepalive"), 200)

    async def policy_type(self, policy_type_id: str) -> dict[str, Any]:
        """The PolicyTypeObject: ``policySchema`` and, if the RIC gives one, ``statusSchema``."""
        response = await self._http.get(f"/policy-types/{_seg(policy_type_id)}")
        _expect(response, 200)
        type_object: dict[str, Any] = response.json()
        return type_object

    async def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        """The policy object (its data only), or None when no such policy exists."""
        return await self._found(f"/policies/{_seg(policy_id)}")

    async def put_policy(self, policy: A1Policy) -> Literal["created", "updated"]:
        """Create the policy under its own id; if that id exists, replace its data.

        On update A1-PMS keeps the existing policy's RIC and type; ids derived from decision
        ids make a clash with a different RIC or type a bug upstream, not a case to handle here.
        """
        info = {
            "policyId": policy.policy_id,
            "nearRtRicId": policy.ric_id,
            "policyTypeId": policy.policy_type_id,
            "serviceId": policy.service_id,
            "transient": policy.transient,
            "policyObject": policy.body,
        }
        response = await self._http.post("/policies", json=info)
        if response.status_code != 409:
            _expect(response, 201)
            return "created"
        _expect(await self._http.put(f"/policies/{_seg(policy.policy_id)}", json=policy.body), 200)
        return "updated"

    async def policy_status(self, policy_id: str) -> dict[str, Any] | None:
        """What the Near-RT RIC reports for the policy (its type's ``statusSchema``, e.g.
        ``{"enforceStatus": "ENFORCED"}``), or None when no such policy exists."""
        return await self._found(f"/policies/{_seg(policy_id)}/status")

    async def _found(self, path: str) -> dict[str, Any] | None:
        """The JSON object at ``path``, or None on 404."""
        response = await self._http.get(path)
        if response.status_code == 404:
            return None
        _expect(response, 200)
        body: dict[str, Any] = response.json()
        return body

    async def delete_policy(self, policy_id: str) -> bool:
        """True when the policy was deleted, False when it did not exist."""
        response = await self._http.delete(f"/policies/{_seg(policy_id)}")
        if response.status_code == 404:
            return False
        _expect(response, 204, 200)
        return True

    async def list_policies(
        self, *, service_id: str | None = None, policy_type_id: str | None = None
    ) -> list[str]:
        """Ids of the policies matching every filter given."""
        params = {}
        if service_id is not None:
            params["serviceId"] = service_id
        if policy_type_id is not None:
            params["policyTypeId"] = policy_type_id
        response = await self._http.get("/policies", params=params)
        _expect(response, 200)
        return [str(item["policyId"]) for item in response.json()]


# 409 is not here: put_policy already turns "exists" into an update, so a 409 that reaches a
# caller is a real conflict. 423 is "RIC synchronising": the spec says try again later.
_TRANSIENT_STATUS = frozenset({423, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """An A1-PMS briefly away (transport failures, the statuses the spec marks as transient):
    worth trying again; anything else (a refusal, a wrong URL) is not."""
    if isinstance(exc, A1Error):
        return exc.status in _TRANSIENT_STATUS
    return isinstance(exc, httpx.TransportError)


def _seg(value: str) -> str:
    """One path segment: ids may hold characters with a meaning in URLs."""
    return quote(value, safe="")


def _expect(response: httpx.Response, *ok: int) -> None:
    if response.status_code in ok:
        return
    raise A1Error(response.status_code, _problem(response))


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        # Not a problem document (e.g. a proxy's HTML page): the status alone must do.
        return {}
    return body if isinstance(body, dict) else {}
