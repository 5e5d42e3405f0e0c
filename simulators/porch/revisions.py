"""A PackageRevision as the simulator keeps it, and its two wire views.

``Revision`` is the cache entry Porch's CR cache keeps per revision: where it lives in git (the
commit and package tree), its lifecycle and number, and the Kubernetes metadata that git does not
hold (labels, annotations, resourceVersion). ``package_revision`` and ``resources`` render it
exactly as Porch serialises ``PackageRevision`` and ``PackageRevisionResources``, including Go's
``omitempty`` quirks: ``spec.revision`` is absent for a draft (0) and ``publishTimestamp`` is
``null`` until published.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from simulators.porch.names import API_VERSION, revision_name, uid

LATEST_LABEL = "kpt.dev/latest-revision"
PUBLISHED = ("Published", "DeletionProposed")
"""``LifecycleIsPublished``: a revision proposed for deletion is still published."""


@dataclass(frozen=True, slots=True)
class Revision:
    """One PackageRevision. Never changed in place: the store swaps in a ``replace``d copy, so
    a reader holding one always sees a consistent revision."""

    repository: str
    package: str
    workspace: str
    revision: int
    lifecycle: str
    commit: str
    tree: str
    namespace: str
    resource_version: str
    created: float
    tasks: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    published_at: float | None = None
    published_by: str = ""
    ready_at: float = 0.0
    """``time.monotonic()`` after which the simulated readiness conditions turn True."""
    extra_gates: list[str] = field(default_factory=list)
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)
    """Conditions set through the admin API; they win over simulated and Kptfile ones."""
    placeholder: bool = False
    """The main-branch copy of a package (revision -1, workspace = the branch's name)."""

    @property
    def name(self) -> str:
        return revision_name(self.repository, self.package, self.workspace)

    @property
    def ref(self) -> str:
        """The git ref holding it (short form, as Porch's ``selfLock`` shows it)."""
        if self.lifecycle == "Draft":
            return f"drafts/{self.package}/{self.workspace}"
        if self.lifecycle == "Proposed":
            return f"proposed/{self.package}/{self.workspace}"
        if self.placeholder:
            return self.workspace
        return self.tag

    @property
    def tag(self) -> str:
        """``createFinalTagNameInLocal``."""
        if self.revision > 0:
            return f"{self.package}/v{self.revision}"
        return f"{self.package}/{self.workspace}"

    @property
    def deletion_branch(self) -> str:
        """``createDeletionProposedName``."""
        if self.revision > 0:
            return f"deletionProposed/{self.package}/v{self.revision}"
        return f"deletionProposed/{self.package}/{self.workspace}"

    @property
    def is_published(self) -> bool:
        return self.lifecycle in PUBLISHED


@dataclass(frozen=True, slots=True)
class KptfileInfo:
    """What Porch reads from a Kptfile into the PackageRevision."""

    readiness_gates: tuple[str, ...] = ()
    conditions: tuple[dict[str, str], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    upstream_lock: dict[str, Any] = field(default_factory=dict)


def kptfile_info(text: str | None) -> KptfileInfo:
    """Gates, conditions, metadata and upstreamLock of a Kptfile; empty when unreadable."""
    try:
        doc = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return KptfileInfo()
    if not isinstance(doc, dict):
        return KptfileInfo()
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    status = doc.get("status") if isinstance(doc.get("status"), dict) else {}
    gates = tuple(
        str(g["conditionType"])
        for g in info.get("readinessGates") or []
        if isinstance(g, dict) and g.get("conditionType")
    )
    conditions = tuple(
        {k: str(c[k]) for k in ("type", "status", "reason", "message") if c.get(k) is not None}
        for c in status.get("conditions") or []
        if isinstance(c, dict) and c.get("type")
    )
    lock = doc.get("upstreamLock") if isinstance(doc.get("upstreamLock"), dict) else {}
    return KptfileInfo(
        readiness_gates=gates,
        conditions=conditions,
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        upstream_lock=lock,
    )


def timestamp(epoch: float | None) -> str | None:
    """``metav1.Time`` JSON: RFC 3339 in UTC to the second, or null."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(rev: Revision, labels: Mapping[str, str] | None) -> dict[str, Any]:
    """ObjectMeta; ``labels`` None for PackageRevisionResources, which carries neither labels
    nor annotations."""
    meta: dict[str, Any] = {
        "name": rev.name,
        "namespace": rev.namespace,
        "uid": uid(rev.namespace, rev.name),
        "resourceVersion": rev.resource_version,
        "creationTimestamp": timestamp(rev.created),
    }
    if labels:
        meta["labels"] = dict(labels)
    if labels is not None and rev.annotations:
        meta["annotations"] = dict(rev.annotations)
    return meta


def conditions(
    rev: Revision, info: KptfileInfo, gates: Sequence[str], now: float
) -> list[dict[str, str]]:
    """Kptfile conditions as written, then one per gate nobody reported on, simulated as the
    Nephio specializers would: False until ``ready_at``, True after; admin overrides win."""
    result: dict[str, dict[str, str]] = {c["type"]: dict(c) for c in info.conditions}
    ready = now >= rev.ready_at
    for gate in gates:
        if gate not in result:
            result[gate] = {
                "type": gate,
                "status": "True" if ready else "False",
                "reason": "Ready" if ready else "Pending",
                "message": "simulated by the Porch simulator",
            }
    result.update({t: dict(c) for t, c in rev.conditions.items()})
    return list(result.values())


def package_revision(
    rev: Revision,
    info: KptfileInfo,
    *,
    latest: bool,
    sim_gates: Sequence[str],
    self_lock_repo: str,
) -> dict[str, Any]:
    """The ``PackageRevision`` object, as ``GET packagerevisions/{name}`` returns it."""
    labels = {k: v for k, v in rev.labels.items() if k != LATEST_LABEL}
    if latest:
        labels[LATEST_LABEL] = "true"
    gates = list(dict.fromkeys([*info.readiness_gates, *sim_gates, *rev.extra_gates]))
    spec: dict[str, Any] = {
        "packageName": rev.package,
        "repository": rev.repository,
        "workspaceName": rev.workspace,
    }
    if rev.revision:
        spec["revision"] = rev.revision
    spec["lifecycle"] = rev.lifecycle
    if rev.tasks:
        spec["tasks"] = [dict(t) for t in rev.tasks]
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    package_metadata: dict[str, Any] = {}
    if info.labels:
        package_metadata["labels"] = dict(info.labels)
    if info.annotations:
        package_metadata["annotations"] = dict(info.annotations)
    spec["packageMetadata"] = package_metadata
    status: dict[str, Any] = {"upstreamLock": dict(info.upstream_lock)}
    status["selfLock"] = {
        "type": "git",
        "git": {
            "repo": self_lock_repo,
            "directory": rev.package,
            "ref": rev.ref,
            "commit": rev.commit,
        },
    }
    if rev.is_published and rev.published_by:
        status["publishedBy"] = rev.published_by
    status["publishTimestamp"] = timestamp(rev.published_at) if rev.is_published else None
    conds = conditions(rev, info, gates, time.monotonic())
    if conds:
        status["conditions"] = conds
    return {
        "kind": "PackageRevision",
        "apiVersion": API_VERSION,
        "metadata": _metadata(rev, labels),
        "spec": spec,
        "status": status,
    }


def resources(
    rev: Revision, files: Mapping[str, str], render_results: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``PackageRevisionResources`` object: same name and resourceVersion as the revision."""
    spec: dict[str, Any] = {
        "packageName": rev.package,
        "workspaceName": rev.workspace,
    }
    if rev.revision:
        spec["revision"] = rev.revision
    spec["repository"] = rev.repository
    spec["resources"] = dict(files)
    result: dict[str, Any] = {"metadata": {"creationTimestamp": None}, "exitCode": 0}
    if render_results:
        result = {
            "apiVersion": "kpt.dev/v1",
            "kind": "FunctionResultList",
            "metadata": {"name": "fnresults", "creationTimestamp": None},
            "exitCode": 0,
            "items": render_results,
        }
    return {
        "kind": "PackageRevisionResources",
        "apiVersion": API_VERSION,
        "metadata": _metadata(rev, None),
        "spec": spec,
        "status": {"renderStatus": {"result": result, "error": ""}},
    }
