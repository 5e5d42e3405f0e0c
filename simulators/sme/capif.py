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
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from simulators.problems import Problem

log = logging.getLogger(__name__)

FUNC_PREFIX = {"APF": "APF_id_", "AEF": "AEF_id_", "AMF": "AMF_id_"}

# Every field name of the capifcore types the simulator reads or answers. Go's encoding/json binds
# keys case-insensitively, so capifcore takes the SMO preload's "AefProfiles"/"ApiName"; keys are
# put back in these spellings on the way in, as the Go structs would marshal them.
_FIELDS = [
    "apiProvDomId",
    "apiProvDomInfo",
    "apiProvFuncs",
    "regSec",
    "suppFeat",
    "failReason",
    "apiProvFuncId",
    "apiProvFuncRole",
    "apiProvFuncInfo",
    "regInfo",
    "apiProvPubKey",
    "apiProvCert",
    "aefProfiles",
    "apiId",
    "apiName",
    "apiSuppFeats",
    "ccfId",
    "description",
    "pubApiPath",
    "serviceAPICategory",
    "shareableInfo",
    "supportedFeatures",
    "aefId",
    "aefLocation",
    "dataFormat",
    "domainName",
    "interfaceDescriptions",
    "protocol",
    "securityMethods",
    "versions",
    "ipv4Addr",
    "ipv6Addr",
    "port",
    "apiVersion",
    "custOperations",
    "expiry",
    "resources",
    "commType",
    "custOpName",
    "operations",
    "resourceName",
    "uri",
    "capifProvDoms",
    "isShareable",
    "ccfIds",
    "apiInvokerId",
    "apiInvokerInformation",
    "apiList",
    "notificationDestination",
    "onboardingInformation",
    "requestTestNotification",
    "websockNotifConfig",
    "apiInvokerCertificate",
    "apiInvokerPublicKey",
    "onboardingSecret",
]
_CANONICAL = {name.lower(): name for name in _FIELDS}


class CapifProblem(Problem):
    """A TS 29.122 ``ProblemDetails``: capifcore sends ``{"cause", "status"}``; the RFC 7807
    ``title``/``detail``/``type``/``instance`` are added so generic clients read it too."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(status, cause)
        self.cause = cause

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_dict(instance), "cause": self.cause}


def canonical_keys(value: Any) -> Any:
    """``value`` with every known field name in capifcore's spelling (see ``_FIELDS``)."""
    if isinstance(value, dict):
        return {_CANONICAL.get(k.lower(), k): canonical_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_keys(v) for v in value]
    return value


def _info_id(info: Any) -> str:
    return info.replace(" ", "_") if isinstance(info, str) else str(uuid.uuid4())


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


# ---------------------------------------------------------------------------------------------
# Shape checks: what Go's json.Unmarshal into capifcore's structs would refuse ("invalid format").


def _provider_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    for key in ("regSec", "apiProvDomInfo", "apiProvDomId"):
        if key in body and body[key] is not None and not _is_str(body[key]):
            return False
    funcs = body.get("apiProvFuncs")
    if funcs is None:
        return True
    if not _list_of_dicts(funcs):
        return False
    for func in funcs:
        for key in ("apiProvFuncRole", "apiProvFuncInfo", "apiProvFuncId"):
            if func.get(key) is not None and not _is_str(func[key]):
                return False
        reg = func.get("regInfo", {})
        if not isinstance(reg, dict) or not _is_str(reg.get("apiProvPubKey", "")):
            return False
    return True


def _service_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict) or not _is_str(body.get("apiName", "")):
        return False
    profiles = body.get("aefProfiles")
    if profiles is None:
        return True
    if not _list_of_dicts(profiles):
        return False
    for profile in profiles:
        if not _is_str(profile.get("aefId", "")) or not _list_of_dicts(profile.get("versions", [])):
            return False
        descs = profile.get("interfaceDescriptions", [])
        if descs is not None and not _list_of_dicts(descs):
            return False
        for desc in descs or []:
            port = desc.get("port")
            if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
                return False
        for version in profile.get("versions", []):
            if not _is_str(version.get("apiVersion", "")):
                return False
            resources = version.get("resources")
            if resources is not None and not _list_of_dicts(resources):
                return False
            for res in resources or []:
                if not all(_is_str(res.get(k, "")) for k in ("commType", "resourceName", "uri")):
                    return False
    return True


def _invoker_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    for key in ("apiInvokerInformation", "apiInvokerId", "notificationDestination"):
        if body.get(key) is not None and not _is_str(body[key]):
            return False
    onboarding = body.get("onboardingInformation", {})
    if not isinstance(onboarding, dict) or not _is_str(onboarding.get("apiInvokerPublicKey", "")):
        return False
    api_list = body.get("apiList")
    return api_list is None or _list_of_dicts(api_list) or isinstance(api_list, dict)


def _requested_api_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    """capifcore's ``APIList`` is a bare array; TS 29.222 wraps it as ``{serviceAPIDescriptions}``.
    Both are taken."""
    api_list = body.get("apiList")
    if isinstance(api_list, dict):
        api_list = api_list.get("serviceAPIDescriptions") or []
    return api_list or []


def _uri_ok(value: str) -> bool:
    """Go's ``url.ParseRequestURI``: an absolute URI (scheme) or an absolute path."""
    if not value:
        return False
    if value.startswith("/"):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and parts.scheme.isascii() and " " not in value


# ---------------------------------------------------------------------------------------------


@dataclass
class DiscoveryQuery:
    """The query of ``GET /service-apis/v1/allServiceAPIs`` (capifcore's
    ``GetAllServiceAPIsParams``); ``preferred-aef-loc`` and the features are parsed, not used."""

    api_invoker_id: str
    api_name: str | None = None
    api_version: str | None = None
    comm_type: str | None = None
    protocol: str | None = None
    aef_id: str | None = None
    data_format: str | None = None
    api_cat: str | None = None
    preferred_aef_loc: Any = None
    supported_features: str | None = None
    api_supported_features: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DiscoveryQuery:
        invoker = params.get("api-invoker-id")
        if invoker is None:
            raise CapifProblem(
                400,
                "Invalid format for parameter api-invoker-id: "
                "query parameter 'api-invoker-id' is required",
            )
        loc: Any = None
        if params.get("preferred-aef-loc"):
            try:
                loc = json.loads(params["preferred-aef-loc"])
            except ValueError:
                raise CapifProblem(
                    400, "Error unmarshaling parameter 'preferred-aef-loc' as JSON"
                ) from None
        return cls(
            api_invoker_id=invoker,
            api_name=params.get("api-name"),
            api_version=params.get("api-version"),
            comm_type=params.get("comm-type"),
            protocol=params.get("protocol"),
            aef_id=params.get("aef-id"),
            data_format=params.get("data-format"),
            api_cat=params.get("api-cat"),
            preferred_aef_loc=loc,
            supported_features=params.get("supported-features"),
            api_supported_features=params.get("api-supported-features"),
        )

    def matches(self, api: dict[str, Any]) -> bool:
        """capifcore's ``matchesFilter``: api-name and api-cat on the API; the rest must all hold
        for one AEF profile. The whole description is returned, every profile included."""
        if self.api_name is not None and self.api_name != api.get("apiName"):
            return False
        if self.api_cat is not None and self.api_cat != api.get("serviceAPICategory"):
            return False
        return any(self._profile_matches(p) for p in api.get("aefProfiles") or [])

    def _profile_matches(self, profile: dict[str, Any]) -> bool:
        if self.aef_id is not None and self.aef_id != profile.get("aefId"):
            return False
        if self.protocol is not None and self.protocol != profile.get("protocol"):
            return False
        if self.data_format is not None and self.data_format != profile.get("dataFormat"):
            return False
        return self._version_and_comm_type(profile.get("versions") or [])

    def _version_and_comm_type(self, versions: list[dict[str, Any]]) -> bool:
        def has_comm_type(version: dict[str, Any]) -> bool:
            return any(r.get("commType") == self.comm_type for r in version.get("resources") or [])

        if self.api_version is not None:
            return any(
                v.get("apiVersion") == self.api_version
                and (self.comm_type is None or has_comm_type(v))
                for v in versions
            )
        if self.comm_type is not None:
            # capifcore's checkVersionAndCommType overwrites its result on every version, so only
            # the last version's resources count (and no versions is no match).
            return bool(versions) and has_comm_type(versions[-1])
        return True


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
        if not _provider_shape_ok(body):
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
        if not _provider_shape_ok(body):
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
        if not _service_shape_ok(body):
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
        if not _service_shape_ok(body):
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
        if not _invoker_shape_ok(body):
            raise CapifProblem(400, msg % "invalid format for invoker")
        key = (body.get("onboardingInformation") or {}).get("apiInvokerPublicKey", "")
        if any(
            (i.get("onboardingInformation") or {}).get("apiInvokerPublicKey", "") == key
            for i in self.invokers.values()
        ):
            raise CapifProblem(403, msg % "invoker with identical public key already onboarded")
        if error := self._validate_invoker(body):
            raise CapifProblem(400, msg % error)
        wanted = {a.get("apiName") for a in _requested_api_list(body)}
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
        if not _uri_ok(destination):
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
        if not _invoker_shape_ok(body):
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
