"""Settings of the rApp's peers: where each one is and how it is reached. PM reports (Kafka
topics, the VES listener), the ICS and SME discovery, the A1-PMS, Nephio and Porch (with the
package mutations a decision applies), the journal database and the rApp's own API.

Sections of :class:`rapp.config.Settings`; import them from :mod:`rapp.config`.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from rapp.sme import A1PMS_API, ICS_API
from rapp.telemetry.fetch import AllowList, parse_host_entry


class KafkaSettings(BaseModel):
    """Where PM reports come from (an O-RAN SC ranpm topic or the ICS PmData job's topic)."""

    bootstrap: str = "127.0.0.1:9092"
    topic: str = "pmreports"
    """The ranpm PM report topic (O-RAN SC PM pipeline output, or the ICS PmData job's topic)."""
    topics: list[str] = Field(default_factory=list)
    """More PM topics, any format (3GPP PM XML, VES perf3gpp): each record's format is sniffed."""
    max_payload_bytes: int = 256 * 2**20
    dlq_topic: str = "pmreports.dlq"
    group_id: str = "rapp"
    client_id: str = "rapp"
    max_records: int = 5000
    poll_timeout_ms: int = 500
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    ssl_cafile: Path | None = None
    """CA bundle the brokers' certificates are checked against (SSL, SASL_SSL); system CAs
    when unset."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for mutual TLS, with ``ssl_keyfile``."""
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    def security(self) -> dict[str, Any]:
        """aiokafka keyword arguments for TLS/SASL, only the ones that are set."""
        extra = {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_plain_username,
            "sasl_plain_password": self.sasl_plain_password,
        }
        out: dict[str, Any] = {"security_protocol": self.security_protocol} | {
            k: v for k, v in extra.items() if v is not None
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            context.check_hostname = self.ssl_check_hostname
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            out["ssl_context"] = context
        return out


class VesSettings(BaseModel):
    """The VES REST listener on the rApp's API (POST /eventListener/v7[/eventBatch])."""

    enabled: bool = True
    username: str | None = None
    """Basic auth user; no auth when unset (bind the API to a trusted network then)."""
    password: str | None = None
    max_bytes: int = 16 * 2**20
    fetch_hosts: list[str] = Field(default_factory=list)
    """Hosts the files of file-ready notifications may be fetched from over http(s): ``name``
    (the scheme's default port) or ``name:port``. Empty: no file is fetched over http(s), since
    whoever can post to the listener names the URL."""
    fetch_dirs: list[Path] = Field(default_factory=list)
    """Directories local paths and ``file://`` URLs must lie in once symlinks and ``..`` are
    resolved. Empty: no local file is read."""
    fetch_attempts: int = 5
    """Fetches of one file before it is marked failed (timeouts, refused connections, 5xx, 429,
    408); any other 4xx, a refused URL or an undecodable file fails at once."""
    fetch_timeout_s: float = 30.0
    """Deadline of one fetch, download included."""
    fetch_max_bytes: int = 512 * 2**20
    """Largest file fetched, and the most a gzip file may unzip to."""
    fetch_backoff_s: float = 1.0
    """First wait between fetches of one file; it doubles each time, up to fetch_backoff_max_s."""
    fetch_backoff_max_s: float = 60.0

    @model_validator(mode="after")
    def _fetch(self) -> VesSettings:
        if self.fetch_attempts < 1:
            raise ValueError(f"ves.fetch_attempts ({self.fetch_attempts}) must be at least 1")
        positive = ("fetch_timeout_s", "fetch_max_bytes", "fetch_backoff_s", "fetch_backoff_max_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"ves.{name} ({getattr(self, name)}) must be above 0")
        for entry in self.fetch_hosts:
            try:
                parse_host_entry(entry)
            except ValueError as err:
                raise ValueError(f"ves.fetch_hosts: {err}") from None
        return self

    def fetch_allow_list(self) -> AllowList:
        """Where file-ready notifications may send the fetcher."""
        return AllowList(hosts=tuple(self.fetch_hosts), dirs=tuple(self.fetch_dirs))


class IcsSettings(BaseModel):
    """Register a PmData info-job at the Information Coordination Service at start-up."""

    enabled: bool = False
    url: str = "http://127.0.0.1:8083"
    job_id: str = "rapp-pm"
    owner: str = "rapp"
    measured_obj_class: str = "NRCellDU"
    meas_types: list[str] = Field(
        default_factory=lambda: [
            "RRU.PrbUsedDl",
            "RRU.PrbAvailDl",
            "RRU.PrbUsedUl",
            "RRU.PrbAvailUl",
        ]
    )
    source_names: list[str] = Field(default_factory=list)
    timeout_s: float = 10.0
    delete_on_stop: bool = True
    """Delete the info-job on a clean stop. Set False where several replicas share it: one
    replica's stop would end PM delivery for all."""


class SmeSettings(BaseModel):
    """Finding the A1-PMS and ICS through the Non-RT RIC's Service Management and Exposure
    (CAPIF discovery). The rApp Manager sets ``app_id`` and ``discovery_endpoint`` when it
    deploys the rApp (Helm values ``environment.appId``, ``environment.smeDiscoveryEndpoint``);
    unset, or when discovery fails, the static ``a1.url`` and ``ics.url`` are used."""

    discovery_endpoint: str | None = None
    """The CAPIF discover-service resource, e.g.
    ``http://servicemanager.nonrtric:8095/service-apis/v1/allServiceAPIs`` (``http://`` is
    assumed when the scheme is left out, as the rApp Manager passes it)."""
    app_id: str | None = None
    """The rApp instance id; the invoker id asked about is ``api_invoker_id_<app_id>``."""
    invoker_id: str | None = None
    """The CAPIF ``api-invoker-id`` to discover as, when not derived from ``app_id``."""
    a1pms_api: str = A1PMS_API
    ics_api: str = ICS_API
    """The ``apiName``\\ s the platform publishes the A1-PMS and ICS under."""
    timeout_s: float = Field(default=10.0, gt=0)
    wait_s: float = Field(default=60.0, ge=0)
    """How long start-up waits for an SME that is down before it falls back to static URLs."""

    @property
    def api_invoker_id(self) -> str | None:
        if self.invoker_id:
            return self.invoker_id
        return f"api_invoker_id_{self.app_id}" if self.app_id else None


class A1Settings(BaseModel):
    """The A1 Policy Management Service (R1-style v3 API) and the policy type the rApp uses."""

    url: str = "http://127.0.0.1:8081"
    api: Literal["auto", "v3", "v2"] = "auto"
    """Which A1-PMS API to speak: ``v3`` (``/a1-policy-management/v1``, R1-style), ``v2``
    (``/a1-policy/v2``, O-RAN SC releases before J), or ``auto``: v3, falling back to v2 when
    the A1-PMS does not serve v3 (its v3 status path answers 404)."""
    ric_id: str = "ric1"
    policy_type_id: str = "RAPP_CAPACITY_1.0.0"
    healing_policy_type_id: str = "RAPP_HEALING_1.0.0"
    """The type of the A1 policies asking the Near-RT RIC to heal cells."""
    service_id: str = "rapp"
    timeout_s: float = 10.0
    token_file: Path | None = None
    """A bearer token sent with every A1-PMS request (a mounted Secret; read at each call, so
    a rotated token is picked up without a restart)."""
    ca_file: Path | None = None
    """CA bundle the A1-PMS's certificate is checked against; None uses the system's."""
    deregister_on_stop: bool = True
    """Delete the rApp's A1-PMS service on a clean stop, and with it the policies the service
    owns: guidance does not outlive the rApp. Set False where several replicas share the
    service (one replica's stop would drop everyone's policies until the next keepalive)."""
    keepalive_s: int = Field(default=60, ge=0)
    """The service's keepAliveIntervalSeconds at the A1-PMS: silent that long, the A1-PMS
    deletes the service and its policies (the rApp calls keepalive every third of it, and puts
    its policies back if the service was lost anyway). 0: not supervised, nothing expires."""
    outage_wait_s: float = Field(default=600.0, ge=0)
    """How long a decision waits, durably, for an A1-PMS that is down (connection refused,
    5xx, 423 while its RIC syncs) before it fails; the target's later decisions wait behind it."""


class PorchSettings(BaseModel):
    """A Porch server (Nephio's package orchestration API, ``porch.kpt.dev/v1alpha1``)."""

    url: str = "http://127.0.0.1:7007"
    """Base URL of the Kubernetes API server that serves Porch's aggregated API (or of the
    project's Porch simulator)."""
    namespace: str = "default"
    repository: str = "deployment"
    """The Porch Repository resource the NF packages are published in."""
    token_file: Path | None = None
    """A bearer token (e.g. the pod's service-account token) sent with every request."""
    ca_file: Path | None = None
    """CA bundle to verify the API server with; None uses the system's."""
    timeout_s: float = Field(default=30.0, gt=0)
    ready_timeout_s: float = Field(default=60.0, gt=0)
    """How long a new draft may take to report its readiness gates True."""


class ResourceRef(BaseModel):
    """Which resource of a package: by apiVersion and kind (and name, when there are several)."""

    model_config = {"extra": "forbid"}

    api_version: str
    kind: str
    name: str | None = None


class FieldCopy(BaseModel):
    """A derived field kept in step, as the package's function pipeline would (a direct git
    write bypasses it): ``source`` of the mutated resource copied to ``path`` of ``target``."""

    model_config = {"extra": "forbid"}

    source: str
    """Dotted path in the mutated resource, e.g. ``spec``."""
    target: ResourceRef
    path: str
    """Dotted path in the target resource, e.g. ``spec.capacity``."""
    after: str | None = None
    """Key after which a missing last segment is inserted (kpt keeps key order)."""


class PackageMutation(BaseModel):
    """How a decided capacity becomes an edit of one kind of NF package."""

    model_config = {"extra": "forbid"}

    name: str
    resource: ResourceRef
    """The resource that carries the NF's capacity; a package matches the first mutation
    whose resource it holds exactly once."""
    capacity: str
    """Dotted path of the field the planner reads as the NF's capacity and the decision sets
    (a Kubernetes quantity, or an integer such as replicas)."""
    scaled: list[str] = Field(default_factory=list)
    """Other fields of the same resource scaled by the decision's ratio (integers rounded up)."""
    copies: list[FieldCopy] = Field(default_factory=list)


def _shipped_mutations() -> list[PackageMutation]:
    upf = PackageMutation(
        name="free5gc-upf-capacity",
        resource=ResourceRef(api_version="req.nephio.org/v1alpha1", kind="Capacity"),
        capacity="spec.maxDownlinkThroughput",
        scaled=["spec.maxUplinkThroughput"],
        copies=[
            FieldCopy(
                source="spec",
                target=ResourceRef(api_version="workload.nephio.org/v1alpha1", kind="NFDeployment"),
                path="spec.capacity",
                after="provider",
            )
        ],
    )
    deployment = PackageMutation(
        name="deployment-replicas",
        resource=ResourceRef(api_version="apps/v1", kind="Deployment"),
        capacity="spec.replicas",
    )
    return [upf, deployment]


class NephioSettings(BaseModel):
    """Where the NF packages live: a Nephio deployment repository written Porch-style by git
    (``writer: git``), or a Porch server (``writer: porch``)."""

    writer: Literal["git", "porch"] = "git"
    outage_wait_s: float = Field(default=600.0, ge=0)
    """How long a decision waits, durably, for a git server or Porch that is down before its
    A1 step is compensated and it fails."""
    porch: PorchSettings = Field(default_factory=PorchSettings)
    mutations: list[PackageMutation] = Field(default_factory=_shipped_mutations)
    """How a decision edits each kind of package, tried in order. The defaults: the free5gc
    UPF's ``Capacity`` (downlink as decided, uplink scaled, mirrored into the NFDeployment) and
    a Deployment's ``spec.replicas``. Setting this list replaces them; see docs/enactment.md."""
    remote: str = "var/nephio/deployment.git"
    """git URL or path of the deployment repository."""
    workdir: Path = Path("var/nephio/work")
    branch: str = "main"
    author_name: str = "rapp"
    author_email: str = "rapp@localhost"


class StoreSettings(BaseModel):
    url: str = "sqlite:///var/rapp.sqlite"
    """SQLAlchemy URL of the journal: a SQLite file, or postgresql+psycopg://... for replicas."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    keys: dict[str, str] = Field(default_factory=dict)
    """API key -> role (``viewer``, ``operator``), e.g. from a Secret as
    ``RAPP_API__KEYS='{"<key>": "operator"}'``. Sent as ``Authorization: Bearer <key>``; what
    each role may do is the policy set's ``data.rapp.api.allow``. Without keys the API is open
    for reading (bind it to a trusted network) and the policy set cannot be replaced over it."""
