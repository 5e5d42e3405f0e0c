"""The Non-RT RIC's own APIs as the O-RAN SC SMO install publishes them in SME.

Copied by hand from ``o-ran-sc/it-dep``
``smo-install/scripts/packages/post-configuration/servicemanager-preconfig-nonrtric.yaml`` (the
``policymanagementservice`` and ``informationservice`` entries) and the way
``smo-install/scripts/sub-scripts/servicemanager-preload.sh`` turns an entry into CAPIF calls: one
provider registration per service (``apiProvDomInfo`` "kong", functions "<service> as APF" and
"<service> as AEF", ``regSec`` "<service>-regsec"), then one ``ServiceAPIDescription`` with a single
AEF profile (``domainName`` "kong", ``protocol`` "HTTP_1_1", one version) published by that APF.

The platform publishes A1-PMS v2 (``/a1-policy/v2``) as ``a1-policy-http`` and, for ICS, the A1-EI
producer-facing resources as ``informationservice-http``: neither A1-PMS v3
(``/a1-policy-management/v1``) nor the ICS data-consumer API (``/data-consumer/v1``). So that an
rApp can find those roots here, ``rapp_roots=True`` adds one resource for each (``ROOT_RESOURCES``)
to the same APIs: simulator additions that a real SMO does not publish.

The interface description is the one given by the base URL: host as ``ipv4Addr`` (the platform
also puts a DNS name there), its port, ``securityMethods`` ["PKI"] (the platform's HTTP port).
Published straight into the CAPIF core, uris are as written; the SMO publishes through the Service
Manager, which rewrites them to Kong routes (see README.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from simulators.sme.capif import Capif

log = logging.getLogger(__name__)

A1PMS_SERVICE = "policymanagementservice"
A1PMS_API_NAME = "a1-policy-http"
ICS_SERVICE = "informationservice"
ICS_API_NAME = "informationservice-http"
DESCRIPTION = "Description,namespace,repoName,chartName,releaseName"

# (resourceName, uri, operations), in the preload's order. "putService" with DELETE on
# /a1-policy/v2/services is the preload's own (a slip there), kept as published.
A1PMS_RESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("putPolicy", "/a1-policy/v2/policies", ("PUT",)),
    ("Policy", "/a1-policy/v2/policies/{policy_id}", ("GET", "DELETE")),
    ("getPolicyIds", "/a1-policy/v2/policies", ("GET",)),
    ("getPolicyInstances", "/a1-policy/v2/policy-instances", ("GET",)),
    ("getPolicyStatus", "/a1-policy/v2/policies/{policy_id}/status", ("GET",)),
    ("getPolicyTypeDefinition", "/a1-policy/v2/policy-types/{policytype_id}", ("GET",)),
    ("getPolicyTypes", "/a1-policy/v2/policy-types", ("GET",)),
    ("health", "/actuator/health", ("GET",)),
    ("healthPath", "/actuator/health/**", ("GET",)),
    ("heapdump", "/actuator/heapdump", ("GET",)),
    ("info", "/actuator/info", ("GET",)),
    ("ActuatorRootWebEndpoint", "/actuator", ("GET",)),
    ("logfile", "/actuator/logfile", ("GET",)),
    ("loggers", "/actuator/loggers", ("GET",)),
    ("loggersName", "/actuator/loggers/{name}", ("GET", "POST")),
    ("metrics", "/actuator/metrics", ("GET",)),
    ("metricsRequiredMetricName", "/actuator/metrics/{requiredMetricName}", ("GET",)),
    ("shutdown", "/actuator/shutdown", ("POST",)),
    ("threaddump", "/actuator/threaddump", ("GET",)),
    ("Configuration", "/a1-policy/v2/configuration", ("GET", "PUT")),
    ("getStatus", "/a1-policy/v2/status", ("GET",)),
    ("getStatusV1", "/status", ("GET",)),
    ("getRic", "/a1-policy/v2/rics/ric", ("GET",)),
    ("getRics", "/a1-policy/v2/rics", ("GET",)),
    ("deleteService", "/a1-policy/v2/services/{service_id}", ("DELETE",)),
    ("keepAliveService", "/a1-policy/v2/services/{service_id}/keepalive", ("PUT",)),
    ("putService", "/a1-policy/v2/services", ("DELETE",)),
)
A1PMS_API_VERSION = ""

ICS_RESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("IndividualEIType", "/A1-EI/eitypes/{eiTypeId}", ("GET",)),
    ("EIJobStatus", "/A1-EI/v1/eijobs/{eiJobId}/status", ("GET",)),
    ("EITypeIdentifiers", "/A1-EI/eitypes", ("GET",)),
    ("IndividualEIJob", "/A1-EI/v1/eijobs/{eiJobId}", ("GET", "DELETE", "PUT")),
    ("EIJobIdentifiers", "/A1-EI/v1/eijobs", ("GET",)),
    ("ServiceStatus", "/status", ("GET",)),
    ("threaddump", "/actuator/threaddump", ("GET",)),
    ("loggers", "/actuator/loggers", ("GET",)),
    ("health", "/actuator/health", ("GET",)),
    ("healthPath", "/actuator/health/**", ("GET",)),
    ("shutdown", "/actuator/shutdown", ("POST",)),
    ("metrics", "/actuator/metrics", ("GET",)),
    ("metricsRequiredMetricName", "/actuator/metrics/{requiredMetricName}", ("GET",)),
    ("ActuatorRootWebEndpoint", "/actuator", ("GET",)),
    ("info", "/actuator/info", ("GET",)),
    ("logfile", "/actuator/logfile", ("GET",)),
    ("loggersName", "/actuator/loggers/{name}", ("GET", "POST")),
    ("heapdump", "/actuator/heapdump", ("GET",)),
)
ICS_API_VERSION = "v1"

A1PMS_V3_RESOURCE = "a1PolicyManagementV1"
ICS_CONSUMER_RESOURCE = "dataConsumerV1"
# Simulator additions (rapp_roots=True): the API roots the rApp calls, which the platform does
# not publish.
ROOT_RESOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    A1PMS_API_NAME: (
        A1PMS_V3_RESOURCE,
        "/a1-policy-management/v1",
        ("GET", "PUT", "POST", "DELETE"),
    ),
    ICS_API_NAME: (ICS_CONSUMER_RESOURCE, "/data-consumer/v1", ("GET", "PUT", "DELETE")),
}


@dataclass(frozen=True)
class Seed:
    """What ``seed_nonrtric`` was asked for, kept so that ``/admin/reset`` can do it again."""

    a1pms_url: str | None = None
    ics_url: str | None = None
    rapp_roots: bool = True


def interface_description(base_url: str) -> dict[str, Any]:
    """``{"ipv4Addr": host, "port": port, "securityMethods": ["PKI"]}`` from a base URL."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise ValueError(f"not a base URL: {base_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"ipv4Addr": parts.hostname, "port": port, "securityMethods": ["PKI"]}


def _resource(name: str, uri: str, operations: tuple[str, ...]) -> dict[str, Any]:
    return {
        "commType": "REQUEST_RESPONSE",
        "operations": list(operations),
        "resourceName": name,
        "uri": uri,
    }


def publish_platform_service(
    capif: Capif,
    service: str,
    api_name: str,
    api_version: str,
    resources: list[tuple[str, str, tuple[str, ...]]],
    base_url: str,
) -> dict[str, Any]:
    """Register ``service`` as a provider and publish its API, as servicemanager-preload.sh."""
    provider = capif.register_provider(
        {
            "apiProvDomInfo": "kong",
            "apiProvFuncs": [
                {
                    "apiProvFuncInfo": f"{service} as APF",
                    "apiProvFuncRole": "APF",
                    "regInfo": {"apiProvPubKey": "APF-PublicKey"},
                },
                {
                    "apiProvFuncInfo": f"{service} as AEF",
                    "apiProvFuncRole": "AEF",
                    "regInfo": {"apiProvPubKey": "AEF-PublicKey"},
                },
            ],
            "regSec": f"{service}-regsec",
        }
    )
    funcs = {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in provider["apiProvFuncs"]}
    return capif.publish(
        funcs["APF"],
        {
            "aefProfiles": [
                {
                    "aefId": funcs["AEF"],
                    "interfaceDescriptions": [interface_description(base_url)],
                    "domainName": "kong",
                    "protocol": "HTTP_1_1",
                    "versions": [
                        {
                            "apiVersion": api_version,
                            "resources": [_resource(*r) for r in resources],
                        }
                    ],
                }
            ],
            "apiName": api_name,
            "description": DESCRIPTION,
        },
    )


def seed_nonrtric(
    capif: Capif,
    a1pms_url: str | None = None,
    ics_url: str | None = None,
    *,
    rapp_roots: bool = True,
) -> dict[str, str]:
    """Publish the A1-PMS and/or ICS APIs as the SMO install does; ``{apiName: apiId}``.

    ``rapp_roots`` adds the ``/a1-policy-management/v1`` and ``/data-consumer/v1`` resources
    (``ROOT_RESOURCES``), which the platform lacks.
    """
    published: dict[str, str] = {}
    for service, api_name, version, resources, url in (
        (A1PMS_SERVICE, A1PMS_API_NAME, A1PMS_API_VERSION, A1PMS_RESOURCES, a1pms_url),
        (ICS_SERVICE, ICS_API_NAME, ICS_API_VERSION, ICS_RESOURCES, ics_url),
    ):
        if url is None:
            continue
        listed = list(resources) + ([ROOT_RESOURCES[api_name]] if rapp_roots else [])
        api = publish_platform_service(capif, service, api_name, version, listed, url)
        published[api_name] = api["apiId"]
        log.info("seeded %s at %s as %s", api_name, url, api["apiId"])
    return published


def onboard_invoker(capif: Capif, information: str, api_names: list[str] | None = None) -> str:
    """Onboard an invoker (``apiInvokerInformation`` = ``information``) asking for
    ``api_names`` (default: every published API); its ``apiInvokerId``."""
    names = api_names if api_names is not None else [a["apiName"] for a in capif.all_published()]
    invoker = capif.onboard(
        {
            "apiInvokerInformation": information,
            "apiList": [{"apiName": n} for n in names],
            "notificationDestination": "http://127.0.0.1/sme-simulator/no-callback",
            "onboardingInformation": {"apiInvokerPublicKey": f"sme-simulator-key-{information}"},
        }
    )
    invoker_id: str = invoker["apiInvokerId"]
    return invoker_id
