"""The CAPIF core's rules, in memory, as O-RAN SC ``nonrtric-plt-sme`` capifcore applies them.

Read from ``o-ran-sc/nonrtric-plt-sme`` (``capifcore/internal/``): ``providermanagement``,
``publishservice``, ``invokermanagement``, ``discoverservice`` and the ``*api/type*.go`` helpers
beside their generated types. Ids are capifcore's, derived from the request so that they are
predictable (spaces become ``_``; a UUID when the source field is absent):

* ``apiProvDomId``: ``domain_id_<apiProvDomInfo>``;
* ``apiProvFuncId``: ``APF_id_|AEF_id_|AMF_id_<apiProvFuncInfo>`` by role;
* ``apiId``: ``api_id_<apiName>``;
* ``apiInvokerId``: ``api_invoker_id_<apiInvokerInformation>``.

Every refusal is a ``CapifProblem`` whose ``cause`` is capifcore's message, word for word.

The state and its rules live here; field spelling (``_fields``), JSON shape checks (``_shapes``),
the discovery query (``discovery``) and ``CapifProblem`` (``problem``) sit beside it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from simulators.sme._fields import canonical_keys
from simulators.sme._shapes import (
    invoker_shape_ok,
    provider_shape_ok,
    requested_api_list,
    service_shape_ok,
    uri_ok,
)
from simulators.sme.discovery import DiscoveryQuery
from simulators.sme.problem import CapifProblem

# Re-exported: app.py and simulators.sme import these from here.
__all__ = ["FUNC_PREFIX", "Capif", "CapifProblem", "DiscoveryQuery", "canonical_keys"]

log = logging.getLogger(__name__)

FUNC_PREFIX = {"APF": "APF_id_", "AEF": "AEF_id_", "AMF": "AMF_id_"}


@dataclass
class Capif:
    """Providers by ``apiProvDomId``, published APIs by APF id, invokers by ``apiInvokerId``."""

    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invokers: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_uuid: Callable[[], str] = field(default=lambda: str(uuid.uuid4()), repr=False)

    def clear(self) -> None:
        self.providers.clear()
        self.published.clear()
        self.invokers.clear()

    # --- provider management (TS 29.222 §8.9) -----------------------------------------------

    def _funcs(self) -> Iterable[dict[str, Any]]:
        for provider in self.providers.values():
            yield from provider.get("apiProvFuncs") or []

    def is_publisher(self, apf_id: str) -> bool:
        return any(
            f.get("apiProvFuncId") == apf_id and f.get("apiProvFuncRole") == "APF"
            for f in self._funcs()
        )

    def aefs_for_publisher(self, apf_id: str) -> list[str]:
        """The AEF ids of the first provider that has ``apf_id`` among its functions."""
        for provider in self.providers.values():
            funcs = provider.get("apiProvFuncs") or []
            if any(f.get("apiProvFuncId") == apf_id for f in funcs):
                return [f["apiProvFuncId"] for f in funcs if f.get("apiProvFuncRole") == "AEF"]
        return []

    @staticmethod
    def _validate_provider(body: dict[str, Any]) -> str | None:
        if not str(body.get("regSec") or "").strip():
            return "APIProviderEnrolmentDetails missing required regSec"
        for func in body.get("apiProvFuncs") or []:
            role = str(func.get("apiProvFuncRole") or "")
            if not role.strip():
                error = "APIProviderFunctionDetails missing required apiProvFuncRole"
            elif role not in FUNC_PREFIX:
                error = "APIProviderFunctionDetails has invalid apiProvFuncRole"
            elif not str((func.get("regInfo") or {}).get("apiProvPubKey") or "").strip():
                error = "RegistrationInformation missing required apiProvPubKey"
            else:
                continue
            return f"apiProvFuncs contains invalid function: {error}"
        return None

    def _func_id(self, func: dict[str, Any]) -> str:
        info = func.get("apiProvFuncInfo")
        return FUNC_PREFIX.get(func.get("apiProvFuncRole", ""), "") + (
            info.replace(" ", "_") if isinstance(info, str) else self.new_uuid()
        )

    def register_provider(self, body: Any) -> dict[str, Any]:
        """POST .../registrations: 403 on a known ``regSec``, 400 on a bad body."""
        msg = "Unable to register provider due to %s"
        if not provider_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for provider")
        if any(p.get("regSec") == body.get("regSec") for p in self.providers.values()):
            raise CapifProblem(403, msg % "provider with identical regSec already registered")
        if error := self._validate_provider(body):
            raise CapifProblem(400, msg % error)
        provider = dict(body)
        info = provider.get("apiProvDomInfo")
        provider["apiProvDomId"] = "domain_id_" + (
            info.replace(" ", "_") if isinstance(info, str) else self.new_uuid()
        )
        if provider.get("apiProvFuncs") is not None:
            provider["apiProvFuncs"] = [
                {**f, "apiProvFuncId": self._func_id(f)} for f in provider["apiProvFuncs"]
            ]
        # Keyed by id like capifcore: a second provider with the same apiProvDomInfo replaces the
        # first (the SMO preload registers every platform service with apiProvDomInfo "kong").
        self.providers[provider["apiProvDomId"]] = provider
        log.info("registered provider %s", provider["apiProvDomId"])
        return provider

    def get_provider(self, registration_id: str) -> dict[str, Any]:
        """Not in capifcore nor TS 29.222 Rel-17: a simulator extension."""
        provider = self.providers.get(registration_id)
        if provider is None:
            raise CapifProblem(404, f"Provider {registration_id} not registered")
        return provider

    def update_provider(self, registration_id: str, body: Any) -> dict[str, Any]:
        """PUT .../registrations/{id}: new functions get ids, known ids must be this provider's."""
        msg = "Unable to update provider due to %s."
        registered = self.providers.get(registration_id)
        if registered is None:
            raise CapifProblem(400, msg % "provider not onboarded")
        if not provider_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for provider")
        if error := self._validate_provider(body):
            raise CapifProblem(400, msg % error)
        if body.get("apiProvDomId") != registration_id:
            raise CapifProblem(
                400, msg % "APIProviderEnrolmentDetails ApiProvDomId doesn't match path parameter"
            )
        known = {f.get("apiProvFuncId") for f in registered.get("apiProvFuncs") or []}
        funcs = []
        for func in body.get("apiProvFuncs") or []:
            func_id = func.get("apiProvFuncId")
            if func_id is None:
                func = {**func, "apiProvFuncId": self._func_id(func)}
            elif func_id not in known:
                raise CapifProblem(
                    400, msg % f"function with ID {func_id} is not registered for the provider"
                )
            funcs.append(func)
        updated = dict(body)
        if body.get("apiProvFuncs") is not None:
            updated["apiProvFuncs"] = funcs
        self.providers[registration_id] = updated
        return updated

    def delete_provider(self, registration_id: str) -> None:
        """204 whether or not it was registered; its published APIs stay, as in capifcore."""
        self.providers.pop(registration_id, None)

    # --- publish service (TS 29.222 §8.2) ----------------------------------------------------

    def all_published(self) -> list[dict[str, Any]]:
        return [api for apis in self.published.values() for api in apis]

    def publish(self, apf_id: str, body: Any) -> dict[str, Any]:
        """POST .../{apfId}/service-apis: 403 for an unknown APF or a taken apiName, 404 for an
        AEF not of the APF's provider, 400 for a bad body."""
        msg = "Unable to publish the service due to %s "
        if not service_shape_ok(body):
            raise CapifProblem(400, msg % f"invalid format for service {apf_id}")
        if not self.is_publisher(apf_id):
            raise CapifProblem(403, msg % f"api is only available for publishers {apf_id}")
        if any(api.get("apiName") == body.get("apiName") for api in self.all_published()):
            raise CapifProblem(403, msg % "service with identical apiName is already published")
        if not str(body.get("apiName") or "").strip():
            raise CapifProblem(400, msg % "ServiceAPIDescription missing required apiName")
        if body.get("aefProfiles") is None:
            # capifcore dereferences a nil aefProfiles and fails; a 400 says why.
            raise CapifProblem(400, msg % "ServiceAPIDescription missing required aefProfiles")
        aefs = self.aefs_for_publisher(apf_id)
        for profile in body["aefProfiles"]:
            if profile.get("aefId") not in aefs:
                raise CapifProblem(404, msg % f"function {profile.get('aefId')} not registered")
        api = {**body, "apiId": "api_id_" + body["apiName"].replace(" ", "_")}
        self.published.setdefault(apf_id, []).append(api)
        log.info("published %s (%s) by %s", api["apiId"], api["apiName"], apf_id)
        return api

    def list_published(self, apf_id: str) -> list[dict[str, Any]]:
        """GET .../{apfId}/service-apis: 404 for an APF that is not a registered publisher
        (and has published nothing)."""
        if apf_id in self.published:
            return self.published[apf_id]
        if not self.is_publisher(apf_id):
            raise CapifProblem(
                404,
                f"Unable to get the service due to {apf_id} api is only available for publishers",
            )
        return []

    def get_published(self, apf_id: str, api_id: str) -> dict[str, Any]:
        for api in self.published.get(apf_id, []):
            if api.get("apiId") == api_id:
                return api
        # capifcore answers 404 with no body; a ProblemDetails says the same.
        raise CapifProblem(404, f"Service API {api_id} not published by {apf_id}")

    def update_published(self, apf_id: str, api_id: str, body: Any) -> dict[str, Any]:
        """PUT: capifcore keeps the stored API and takes only ``description`` and
        ``aefProfiles`` from the body."""
        msg = "Unable to update service due to %s."
        apis = self.published.get(apf_id, [])
        pos = next((i for i, a in enumerate(apis) if a.get("apiId") == api_id), None)
        if pos is None:
            raise CapifProblem(400, msg % "service must be published before updating it")
        if not service_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for service")
        if body.get("apiId") != api_id:
            raise CapifProblem(
                400, msg % "ServiceAPIDescription ApiId doesn't match path parameter"
            )
        aefs = self.aefs_for_publisher(apf_id)
        for profile in body.get("aefProfiles") or []:
            if profile.get("aefId") not in aefs:
                raise CapifProblem(400, msg % f"function {profile.get('aefId')} not registered")
        updated = dict(apis[pos])
        if body.get("description") is not None:
            updated["description"] = body["description"]
        updated["aefProfiles"] = body.get("aefProfiles")
        apis[pos] = updated
        return updated

    def unpublish(self, apf_id: str, api_id: str) -> None:
        """204 whether or not it was published."""
        apis = self.published.get(apf_id)
        if apis is not None:
            apis[:] = [a for a in apis if a.get("apiId") != api_id]

    # --- invoker management (TS 29.222 §8.4) -------------------------------------------------

    def onboard(self, body: Any) -> dict[str, Any]:
        """POST .../onboardedInvokers: 403 when an invoker with the same
        ``apiInvokerPublicKey`` is onboarded, 400 on a bad body. ``apiList`` in the answer is the
        published APIs whose ``apiName`` is in the requested list (capifcore's
        ``GetAllowedPublishedServices``), absent when none."""
        msg = "Unable to onboard invoker due to %s"
        if not invoker_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for invoker")
        key = (body.get("onboardingInformation") or {}).get("apiInvokerPublicKey", "")
        if any(
            (i.get("onboardingInformation") or {}).get("apiInvokerPublicKey", "") == key
            for i in self.invokers.values()
        ):
            raise CapifProblem(403, msg % "invoker with identical public key already onboarded")
        if error := self._validate_invoker(body):
            raise CapifProblem(400, msg % error)
        wanted = {a.get("apiName") for a in requested_api_list(body)}
        allowed = [a for a in self.all_published() if a.get("apiName") in wanted]
        invoker = {k: v for k, v in body.items() if k != "apiList"}
        if allowed:
            invoker["apiList"] = allowed
        info = body.get("apiInvokerInformation")
        invoker["apiInvokerId"] = "api_invoker_id_" + (
            info.replace(" ", "_") if isinstance(info, str) else self.new_uuid()
        )
        self.invokers[invoker["apiInvokerId"]] = invoker
        log.info("onboarded invoker %s", invoker["apiInvokerId"])
        return invoker

    @staticmethod
    def _validate_invoker(body: dict[str, Any]) -> str | None:
        destination = body.get("notificationDestination") or ""
        if not destination:
            return "APIInvokerEnrolmentDetails missing required NotificationDestination"
        if not uri_ok(destination):
            return (
                "APIInvokerEnrolmentDetails has invalid NotificationDestination, "
                f'err=parse "{destination}": invalid URI for request'
            )
        if not (body.get("onboardingInformation") or {}).get("apiInvokerPublicKey"):
            return (
                "APIInvokerEnrolmentDetails missing required "
                "OnboardingInformation.ApiInvokerPublicKey"
            )
        return None

    def update_invoker(self, onboarding_id: str, body: Any) -> dict[str, Any]:
        """PUT: the body replaces the invoker; 404 when it is not onboarded."""
        msg = "Unable to update invoker due to %s"
        if not invoker_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for invoker")
        if body.get("apiInvokerId") != onboarding_id:
            raise CapifProblem(
                400,
                msg % "APIInvokerEnrolmentDetails ApiInvokerId doesn't match path parameter",
            )
        if error := self._validate_invoker(body):
            raise CapifProblem(400, msg % error)
        if onboarding_id not in self.invokers:
            raise CapifProblem(404, "The invoker to update has not been onboarded")
        self.invokers[onboarding_id] = dict(body)
        return self.invokers[onboarding_id]

    def offboard(self, onboarding_id: str) -> None:
        """204 whether or not it was onboarded."""
        self.invokers.pop(onboarding_id, None)

    # --- discover service (TS 29.222 §8.1) ---------------------------------------------------

    def discover(self, query: DiscoveryQuery) -> list[dict[str, Any]]:
        """Every published API that matches, for any onboarded invoker: capifcore does not limit
        discovery to the invoker's ``apiList``. 404 for an invoker that is not onboarded."""
        if query.api_invoker_id not in self.invokers:
            raise CapifProblem(404, f"Invoker {query.api_invoker_id} not registered")
        return [api for api in self.all_published() if query.matches(api)]
