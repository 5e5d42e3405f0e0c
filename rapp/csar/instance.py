"""What the rApp Manager sets up when an instance of the package is created and deployed: the
ACM instance (chart release and A1-PMS service), the SME provider, service APIs and invoker, and
the DME consumer job. File names here are the resource names the create-instance request uses."""

from __future__ import annotations

from typing import Any

from rapp.csar.descriptors import (
    A1PMS_ELEMENT,
    COMPOSITION_ID,
    ELEMENT_VERSION,
    K8S_ELEMENT,
    RAPP_INSTANCE_ID,
    SME_DISCOVERY_ENDPOINT,
    PackagePlan,
)

ACM_INSTANCE = "rapp-instance"
SME_PROVIDER = "rapp-provider-function"
SME_API = "rapp-api"
SME_INVOKER = "rapp-invoker"
DME_CONSUMER = "rapp-pm-consumer"


def acm_instance(plan: PackagePlan) -> dict[str, Any]:
    """Deploy the chart (its values told the instance id and SME endpoint, which the rApp
    uses to discover its peers) and register the rApp's service at the A1-PMS."""
    chart_id, a1pms_id = plan.uuid("acm", "chart"), plan.uuid("acm", "a1pms")
    overrides = {
        "environment.appId": RAPP_INSTANCE_ID,
        "environment.smeDiscoveryEndpoint": SME_DISCOVERY_ENDPOINT,
        **plan.overrides,
    }
    return {
        "name": f"{plan.name}-instance",
        "version": plan.version,
        "compositionId": COMPOSITION_ID,
        "description": f"{plan.name} {plan.version}: its Helm release and its A1-PMS service",
        "elements": {
            a1pms_id: {
                "id": a1pms_id,
                "definition": {"name": A1PMS_ELEMENT, "version": ELEMENT_VERSION},
                "description": "The rApp's A1-PMS service, under which its A1 policies live",
                "properties": {
                    "policyServiceEntities": [
                        {
                            "a1PolicyServiceEntityId": {
                                "name": plan.a1_service_id,
                                "version": plan.version,
                            },
                            "clientId": plan.a1_service_id,
                            # The rApp takes no A1-PMS callbacks: it re-reads RIC state itself.
                            "callbackUrl": "",
                            "keepAliveIntervalSeconds": plan.a1_keepalive_s,
                        }
                    ]
                },
            },
            chart_id: {
                "id": chart_id,
                "definition": {"name": K8S_ELEMENT, "version": ELEMENT_VERSION},
                "description": f"The {plan.chart.name} Helm chart",
                "properties": {
                    "chart": {
                        "chartId": {"name": plan.chart.name, "version": plan.chart.version},
                        "namespace": plan.namespace,
                        "releaseName": plan.release,
                        "podName": plan.release,
                        "repository": {"repoName": "local", "address": plan.chart_repository},
                        "overrideParams": overrides,
                    }
                },
            },
        },
    }


def sme_provider(plan: PackagePlan) -> dict[str, Any]:
    """The rApp as a CAPIF API provider: an APF that publishes, an AEF that serves."""
    return {
        "apiProvDomInfo": f"{plan.name} provider domain",
        "apiProvFuncs": [
            {
                "apiProvFuncInfo": f"{plan.name} as {role}",
                "apiProvFuncRole": role,
                "regInfo": {"apiProvPubKey": f"{plan.name}-{role.lower()}-key"},
            }
            for role in ("APF", "AEF")
        ],
        "regSec": "plain",
    }


def sme_service_api(plan: PackagePlan) -> dict[str, Any]:
    """The rApp's read API (decisions and what drove them) and its VES listener."""

    def resource(name: str, uri: str, *operations: str) -> dict[str, Any]:
        return {
            "resourceName": name,
            "commType": "REQUEST_RESPONSE",
            "uri": uri,
            "operations": list(operations),
        }

    return {
        "apiName": SME_API,
        "description": f"{plan.name}: decisions, evidence, alarms, models, policies, VES intake",
        "aefProfiles": [
            {
                "aefId": f"{plan.name} as AEF",
                "description": f"{plan.name} API",
                "versions": [
                    {
                        "apiVersion": "v1",
                        "resources": [
                            resource("decisions", "/api/v1/decisions", "GET"),
                            resource("alarms", "/api/v1/alarms", "GET"),
                            resource("anomalies", "/api/v1/anomalies", "GET"),
                            resource("models", "/api/v1/models", "GET"),
                            resource("policies", "/api/v1/policies", "GET", "PUT"),
                            resource("ves-events", "/eventListener/v7", "POST"),
                        ],
                    }
                ],
                "protocol": "HTTP_1_1",
                "interfaceDescriptions": [{"ipv4Addr": plan.service_host, "port": plan.api_port}],
            }
        ],
    }


def sme_invokers(plan: PackagePlan) -> list[dict[str, Any]]:
    """The rApp as a CAPIF invoker of the A1-PMS and ICS: what lets it discover them."""
    return [
        {
            "apiInvokerInformation": RAPP_INSTANCE_ID,
            "apiList": [{"apiName": plan.a1pms_api}, {"apiName": plan.ics_api}],
            "notificationDestination": f"http://{plan.service_host}:{plan.api_port}/sme",
            "onboardingInformation": {
                # CAPIF requires a key unique per invoker; the rApp authenticates by network
                # policy, not by this key, so the instance id makes it unique.
                "apiInvokerPublicKey": f"{plan.name}-{RAPP_INSTANCE_ID}",
            },
            "requestTestNotification": False,
        }
    ]


def dme_consumer(plan: PackagePlan) -> dict[str, Any]:
    """The ``PmData`` job: PM counters for the rApp's cells delivered to its Kafka topic.

    The package carries no ``consumerinfotypes/PmData.json``: the type is the PM producer's,
    registered in ICS by it. Without a copy here, priming checks that ICS really has it, and
    deploying does not register the platform's type again under the rApp (and delete it at
    undeploy)."""
    return {"status_notification_uri": "", **plan.pm_job}
