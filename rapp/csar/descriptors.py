"""The documents inside the rApp package, each built from one :class:`PackagePlan`.

Shapes follow the O-RAN SC rApp Manager's package layout (``RappCsarPathProvider``) and its
sample packages: an ETSI-style ASD naming the Helm chart, an ONAP ACM composition and instance
that deploy the chart and register the rApp's A1-PMS service through the A1-PMS participant, the
rApp's CAPIF provider, service APIs and invoker for SME, and its ``PmData`` consumer job for DME.
Placeholders spelt ``DO_NOT_CHANGE_THIS_*`` are the rApp Manager's to fill in at instance time;
``UPDATE_THIS_*`` are the chart repository's addresses, which the platform team sets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from rapp.csar.chart import Chart

RAPP_INSTANCE_ID = "DO_NOT_CHANGE_THIS_RAPP_INSTANCE_ID"
COMPOSITION_ID = "DO_NOT_CHANGE_THIS_COMPOSITION_ID"
SME_DISCOVERY_ENDPOINT = "DO_NOT_CHANGE_THIS_SME_DISCOVERY_ENDPOINT"
CHARTS_GET_URI = "UPDATE_THIS_CHART_MUSEUM_GET_CHARTS_URI"
CHARTS_POST_URI = "UPDATE_THIS_CHART_MUSEUM_POST_CHARTS_URI"

# ONAP ACM names: the participants and element types the Non-RT RIC's ACM runtime knows.
_ACM = "org.onap.policy.clamp.acm"
_ELEMENT = "onap.policy.clamp.ac.element"
_K8S_PARTICIPANT = "org.onap.k8s.acm.K8SAutomationCompositionParticipant"
_A1PMS_PARTICIPANT = f"{_ACM}.A1PMSAutomationCompositionParticipant"
K8S_ELEMENT = f"{_ELEMENT}.K8S_StarterAutomationCompositionElement"
A1PMS_ELEMENT = f"{_ELEMENT}.A1PMSAutomationCompositionElement"
_COMPOSITION = f"{_ELEMENT}.AutomationCompositionDefinition"
ELEMENT_VERSION = "1.2.3"  # the element version the participants register in O-RAN SC installs
_PARTICIPANT_VERSION = "2.3.4"

# Every id in the package is derived, not random: the same release packs the same CSAR.
_NAMESPACE = uuid.UUID("6f1c1bd4-6a3e-4f38-9d4a-0c5e2b7f1a90")


@dataclass(frozen=True)
class PackagePlan:
    """Everything the package says about the rApp; :func:`rapp.csar.plan_from` fills it from
    the rApp's settings."""

    version: str
    chart: Chart
    pm_job: dict[str, Any]
    """The ``PmData`` consumer job (the one the rApp registers at ICS itself when not onboarded)."""
    policy_types: dict[str, dict[str, Any]]
    """The A1 policy types the rApp writes, by id (``policySchema`` objects)."""
    a1pms_api: str
    ics_api: str
    """The SME ``apiName``\\ s of the Non-RT RIC's A1-PMS and ICS, which the rApp discovers."""
    name: str = "rapp"
    provider: str = "rapp developers"
    description: str = (
        "Forecasts load and detects anomalies per cell from O1 PM, checks every decision "
        "against Rego policies, enacts them as A1 policies and Nephio package updates."
    )
    namespace: str = "nonrtric"
    release: str = "rapp"
    a1_service_id: str = "rapp"
    a1_keepalive_s: int = 60
    api_port: int = 8080
    chart_repository: str = CHARTS_GET_URI
    chart_upload_uri: str = CHARTS_POST_URI
    overrides: dict[str, str] = field(default_factory=dict)
    """More Helm ``overrideParams`` for the instance (dotted value paths)."""

    @property
    def csar_name(self) -> str:
        return f"{self.name}-{self.version}.csar"

    @property
    def chart_file(self) -> str:
        return f"Artifacts/Deployment/HELM/{self.chart.archive_name}"

    @property
    def service_host(self) -> str:
        """The rApp's Service in the cluster, as the chart names it for this release."""
        fullname = self.release if self.chart.name in self.release else f"{self.release}-rapp"
        return f"{fullname}.{self.namespace}.svc.cluster.local"

    def uuid(self, *what: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, "/".join((self.name, *what))))


def tosca_meta(plan: PackagePlan) -> str:
    return (
        "TOSCA-Meta-File-Version: 1.0\n"
        "CSAR-Version: 1.0\n"
        f"Created-By: {plan.provider}\n"
        "Entry-Definitions: Definitions/asd.yaml\n"
        "ETSI-Entry-Manifest: asd.mf\n"
    )


def manifest(plan: PackagePlan, release_date: str, sources: list[str]) -> str:
    lines = [
        "metadata:",
        f"  application_name: {plan.name}",
        f"  application_provider: {plan.provider}",
        f"  release_date_time: {release_date}",
        "  entry_definition_type: asd",
        "",
        *(f"Source: {s}" for s in sources),
    ]
    return "\n".join(lines) + "\n"


def asd(plan: PackagePlan) -> dict[str, Any]:
    """The Application Service Descriptor. ``descriptor_invariant_id`` names the rApp across
    versions; ``descriptor_id`` this version. The rApp Manager refuses a package whose ids an
    onboarded package already has."""
    return {
        "tosca_definitions_version": "tosca_simple_yaml_1_2",
        "description": f"{plan.name} {plan.version}",
        "imports": ["asd_types.yaml"],
        "topology_template": {
            "node_templates": {
                "applicationServiceDescriptor": {
                    "type": "tosca.nodes.asd",
                    "description": plan.name,
                    "properties": {
                        "descriptor_id": plan.uuid("asd", plan.version),
                        "descriptor_invariant_id": plan.uuid("asd"),
                        "descriptor_version": plan.version,
                        "schema_version": "2.0",
                        "function_description": plan.description,
                        "provider": plan.provider,
                        "application_name": plan.name,
                        "application_version": plan.version,
                    },
                    "artifacts": {
                        plan.chart.name: {
                            "type": "tosca.artifacts.asd.deploymentItem",
                            "file": plan.chart_file,
                            "properties": {
                                "artifact_type": "helm_chart",
                                "target_server": "chartmuseum",
                                "target_server_uri": plan.chart_upload_uri,
                                "item_id": "1",
                            },
                        }
                    },
                }
            }
        },
    }


def asd_types() -> dict[str, Any]:
    """The ``tosca.nodes.asd`` node type and its deployment-item artifact type."""

    def prop(description: str, required: bool = True, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "required": required, "description": description, **extra}

    return {
        "tosca_definitions_version": "tosca_simple_yaml_1_2",
        "description": "ASD types definitions version 0.1",
        "node_types": {
            "tosca.nodes.asd": {
                "derived_from": "tosca.nodes.Root",
                "description": "The ASD node type",
                "version": "0.1",
                "properties": {
                    "descriptor_id": prop("Identifier of this ASD (RFC 4122 UUID)"),
                    "descriptor_invariant_id": prop(
                        "Identifier of this descriptor across versions (RFC 4122 UUID)"
                    ),
                    "descriptor_version": prop("The version of the ASD"),
                    "schema_version": prop("The version of this ASD's schema"),
                    "function_description": prop("What the application does", required=False),
                    "provider": prop("The provider of the ASD"),
                    "application_name": prop("The application's name"),
                    "application_version": prop("The application's version"),
                },
            }
        },
        "artifact_types": {
            "tosca.artifacts.asd.deploymentItem": {
                "version": "0.1",
                "derived_from": "tosca.artifacts.Root",
                "description": "A deployment item of an ASD",
                "properties": {
                    "item_id": prop("The identifier of this deployment item"),
                    "artifact_type": prop(
                        "The artifact's type", constraints=[{"valid_values": ["helm_chart"]}]
                    ),
                    "target_server": prop(
                        "Where the artifact is uploaded",
                        constraints=[{"valid_values": ["chartmuseum"]}],
                    ),
                    "target_server_uri": prop("URI of the target server"),
                },
            }
        },
    }


def acm_composition() -> dict[str, Any]:
    """The ACM composition: a Helm chart deployment (K8S participant) and an A1-PMS service
    registration (A1-PMS participant)."""
    identifier = "onap.datatypes.ToscaConceptIdentifier"
    service_entity = (
        "org.onap.datatypes.policy.clamp.acm.a1pmsAutomationCompositionElement"
        ".A1PolicyServiceEntity"
    )

    def required(kind: str, description: str = "") -> dict[str, Any]:
        return {"type": kind, "required": True} | (
            {"description": description} if description else {}
        )

    def participant(description: str) -> dict[str, Any]:
        return {
            "version": _PARTICIPANT_VERSION,
            "type": f"{_ACM}.Participant",
            "type_version": "1.0.1",
            "description": description,
            "properties": {"provider": "ONAP"},
        }

    def element(kind: str, type_version: str, participant: str, **props: Any) -> dict[str, Any]:
        return {
            "version": ELEMENT_VERSION,
            "type": kind,
            "type_version": type_version,
            "description": f"Automation composition element: {kind.rsplit('.', 1)[-1]}",
            "properties": {
                "provider": "ONAP",
                "participantType": {"name": participant, "version": _PARTICIPANT_VERSION},
                **props,
            },
        }

    return {
        "tosca_definitions_version": "tosca_simple_yaml_1_3",
        "data_types": {
            identifier: {
                "derived_from": "tosca.datatypes.Root",
                "properties": {"name": required("string"), "version": required("string")},
            },
            service_entity: {
                "version": "1.0.0",
                "derived_from": "tosca.datatypes.Root",
                "properties": {
                    "a1PolicyServiceEntityId": required(
                        identifier, "The entity's name and version"
                    ),
                    "clientId": required("string", "The A1-PMS service id to register"),
                    "callbackUrl": required("string", "Where the A1-PMS calls back"),
                    "keepAliveIntervalSeconds": required("integer", "The service's keepalive"),
                },
            },
        },
        "node_types": {
            f"{_ACM}.Participant": {
                "version": "1.0.1",
                "derived_from": "tosca.nodetypes.Root",
                "properties": {"provider": {"type": "string", "required": False}},
            },
            f"{_ACM}.AutomationCompositionElement": {
                "version": "1.0.1",
                "derived_from": "tosca.nodetypes.Root",
                "properties": {
                    "provider": {"type": "string", "required": False},
                    "participantType": required(identifier),
                    "startPhase": {
                        "type": "integer",
                        "required": False,
                        "constraints": [{"greater-or-equal": 0}],
                        "metadata": {"common": True},
                    },
                },
            },
            f"{_ACM}.AutomationComposition": {
                "version": "1.0.1",
                "derived_from": "tosca.nodetypes.Root",
                "properties": {
                    "provider": {"type": "string", "required": False},
                    "elements": {
                        "type": "list",
                        "required": True,
                        "entry_schema": {"type": identifier},
                    },
                },
            },
            f"{_ACM}.A1PMSAutomationCompositionElement": {
                "version": "1.0.1",
                "derived_from": f"{_ACM}.AutomationCompositionElement",
                "properties": {
                    "policyServiceEntities": {
                        "type": "list",
                        "required": True,
                        "entry_schema": {"type": service_entity, "type_version": "1.0.0"},
                    }
                },
            },
            f"{_ACM}.K8SMicroserviceAutomationCompositionElement": {
                "version": "1.0.0",
                "derived_from": f"{_ACM}.AutomationCompositionElement",
                "properties": {
                    "chart": required("string"),
                    "configs": {"type": "list", "required": False},
                    "requirements": {"type": "string", "required": False},
                    "templates": {"type": "list", "required": False, "entry_schema": None},
                    "values": required("string"),
                },
            },
        },
        "topology_template": {
            "node_templates": {
                _K8S_PARTICIPANT: participant("Participant for K8S"),
                _A1PMS_PARTICIPANT: participant("Participant for A1 PMS requests"),
                A1PMS_ELEMENT: element(
                    f"{_ACM}.A1PMSAutomationCompositionElement",
                    "1.0.1",
                    f"{_ACM}.A1PMSParticipant",
                ),
                K8S_ELEMENT: element(
                    f"{_ACM}.K8SMicroserviceAutomationCompositionElement",
                    "1.0.0",
                    _K8S_PARTICIPANT,
                    startPhase=0,
                    uninitializedToPassiveTimeout=300,
                    podStatusCheckInterval=30,
                ),
                _COMPOSITION: {
                    "version": ELEMENT_VERSION,
                    "type": f"{_ACM}.AutomationComposition",
                    "type_version": "1.0.1",
                    "description": "Automation composition for rApp deployment",
                    "properties": {
                        "provider": "ONAP",
                        "elements": [
                            {"name": A1PMS_ELEMENT, "version": ELEMENT_VERSION},
                            {"name": K8S_ELEMENT, "version": ELEMENT_VERSION},
                        ],
                    },
                },
            }
        },
    }
