"""The Porch server minus HTTP: PackageRevisions over real git repositories, with Porch's rules.

Reads serve the in-memory index (``index.py``), filled from git at start and on ``sync()``.
Writes go in Porch's order: decode the body (400), try the revision's request lock (409 if
another request holds it), find the revision (404), validate (422), compare the resourceVersion
(500 "the object has been modified"), then change git first and the index after, so a failed
push leaves the index as it was. Git work on one repository is serialised by its lock.
The lifecycle moves themselves (branches, tags, approval commits) are in ``lifecycle.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulators.porch import errors, lifecycle, pipeline, rules
from simulators.porch.discovery import discover, reconcile
from simulators.porch.gitrepo import GitRepo, redact
from simulators.porch.index import Busy, Index
from simulators.porch.names import API_VERSION
from simulators.porch.revisions import (
    LATEST_LABEL,
    KptfileInfo,
    Revision,
    kptfile_info,
    package_revision,
    resources,
)
from simulators.porch.selectors import parse_field_selector, parse_label_selector

log = logging.getLogger(__name__)

DEFAULT_GATE = "nephio.org.Specializer.specialize"
"""The readiness gate Nephio's specializer adds to deployed packages."""
PUSH_ON_RENDER_FAILURE = "porch.kpt.dev/push-on-render-failure"


@dataclasses.dataclass(slots=True)
class Repository:
    """A registered Porch Repository: its git clone and the lock that serialises writes."""

    name: str
    git: GitRepo
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Store:
    """Every registered repository's PackageRevisions in one namespace."""

    def __init__(
        self,
        repositories: Mapping[str, str],
        *,
        namespace: str = "default",
        workdir: Path | None = None,
        ready_delay_s: float = 0.0,
        readiness_gates: Sequence[str] = (DEFAULT_GATE,),
        branch: str = "main",
    ) -> None:
        if not repositories:
            raise ValueError("register at least one repository")
        self.namespace = namespace
        self.ready_delay_s = ready_delay_s
        self.readiness_gates = tuple(readiness_gates)
        self.branch = branch
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="porch-sim-")
            workdir = Path(self._tmp.name)
        self.repos = {
            name: Repository(name, GitRepo(remote, Path(workdir) / name, branch=branch))
            for name, remote in repositories.items()
        }
        self.index = Index()
        self.counts: dict[str, Counter[str]] = {}
        self._counts_lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[dict[str, str], KptfileInfo]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- reading -------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.view(self._find(namespace, name, "packagerevisions"))

    def get_resources(self, namespace: str, name: str) -> dict[str, Any]:
        rev = self._find(namespace, name, "packagerevisionresources")
        return resources(rev, self.files(rev))

    def list(
        self, namespace: str, field_selector: str | None, label_selector: str | None
    ) -> dict[str, Any]:
        fields = parse_field_selector(field_selector)
        matches_labels = parse_label_selector(label_selector)
        revs, latest = self.index.snapshot()
        items = []
        order = {"Draft": 0, "Proposed": 1, "Published": 2, "DeletionProposed": 3}
        for rev in sorted(
            revs, key=lambda r: (r.repository, r.package, r.revision, order[r.lifecycle], r.name)
        ):
            if namespace != self.namespace or not fields.matches(rev, namespace):
                continue
            if fields.kptfile_labels:
                kpt_labels = self.info(rev).labels
                if any(kpt_labels.get(k) != v for k, v in fields.kptfile_labels):
                    continue
            view = self.view(rev, latest=rev.name in latest)
            if matches_labels(view["metadata"].get("labels") or {}):
                items.append(view)
        return {
            "kind": "PackageRevisionList",
            "apiVersion": API_VERSION,
            "metadata": {},
            "items": items,
        }

    def view(self, rev: Revision, *, latest: bool | None = None) -> dict[str, Any]:
        """``rev`` as a PackageRevision object."""
        return package_revision(
            rev,
            self.info(rev),
            latest=self.index.is_latest(rev) if latest is None else latest,
            sim_gates=self.readiness_gates,
            self_lock_repo=redact(self.repos[rev.repository].git.remote),
        )

    def files(self, rev: Revision) -> dict[str, str]:
        """The package's files (cached by tree id: a tree never changes)."""
        return dict(self._package(rev)[0])

    def info(self, rev: Revision) -> KptfileInfo:
        return self._package(rev)[1]

    def _package(self, rev: Revision) -> tuple[dict[str, str], KptfileInfo]:
        with self._cache_lock:
            if (hit := self._cache.get(rev.tree)) is not None:
                self._cache.move_to_end(rev.tree)
                return hit
        git = self.repos[rev.repository].git
        files = git.read(git.entries(rev.commit, rev.package))
        entry = (files, kptfile_info(files.get(pipeline.KPTFILE)))
        with self._cache_lock:
            self._cache[rev.tree] = entry
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        return entry

    def stats(self) -> dict[str, Any]:
        by_lifecycle = Counter(r.lifecycle for r in self.index.all())
        with self._counts_lock:
            counts = {what: dict(counter) for what, counter in self.counts.items()}
        conflicts = counts.pop("conflicts", {})
        syncs = counts.pop("syncs", {}).get("total", 0)
        return {
            **counts,
            "syncs": syncs,
            "conflicts": {
                "stale": conflicts.get("stale", 0),
                "in_flight": conflicts.get("in_flight", 0),
            },
            "revisions": {lc: by_lifecycle.get(lc, 0) for lc in rules.LIFECYCLES},
        }

    def count(self, what: str, key: str) -> None:
        """Count one event for ``GET /admin/stats`` (``what``: writes, applied, conflicts, ...)."""
        with self._counts_lock:
            self.counts.setdefault(what, Counter())[key] += 1

    # -- sync ----------------------------------------------------------------------------

    def sync(self) -> dict[str, dict[str, list[str]]]:
        """Fetch every repository and make the index match git (Porch's repository sync)."""
        report = {}
        for repo in self.repos.values():
            with repo.lock:
                report[repo.name] = self.sync_locked(repo)
        self.count("syncs", "total")
        return report

    def sync_locked(self, repo: Repository) -> dict[str, list[str]]:
        """``sync`` of one repository whose lock the caller holds."""
        repo.git.fetch()
        return reconcile(self.index, repo.name, self.namespace, discover(repo.git))

    # -- writing -------------------------------------------------------------------------

    def create(self, namespace: str, body: Any, user: str) -> dict[str, Any]:
        body = rules.decode(body, "PackageRevision")
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        repo_name = spec.get("repository", "")
        if not repo_name:
            raise errors.bad_request("spec.repositoryName is required")
        if namespace != self.namespace or repo_name not in self.repos:
            raise errors.repository_not_found(repo_name)
        if errs := rules.validate_create(body):
            raise errors.invalid("PackageRevision", meta.get("name", ""), errs)
        package, workspace = spec["packageName"], spec["workspaceName"]
        repo = self.repos[repo_name]
        try:
            with self.index.try_lock(f"{namespace}-{repo_name}-{package}-{workspace}"), repo.lock:
                rev = self.index.put(lifecycle.create(self, repo, spec, meta, user))
        except Busy:
            self.count("conflicts", "in_flight")
            raise errors.creation_in_flight(namespace, repo_name, package, workspace) from None
        self.count("applied", "create")
        return self.view(rev)

    def update(self, namespace: str, name: str, body: Any, user: str) -> dict[str, Any]:
        """PUT packagerevisions/{name}: Draft <-> Proposed, Published <-> DeletionProposed,
        labels and annotations; never to Published."""
        return self._update(namespace, name, body, user, approval=False)

    def approve(self, namespace: str, name: str, body: Any, user: str) -> dict[str, Any]:
        """PUT packagerevisions/{name}/approval: publish, reject, or (un)propose deletion."""
        return self._update(namespace, name, body, user, approval=True)

    def _update(
        self, namespace: str, name: str, body: Any, user: str, *, approval: bool
    ) -> dict[str, Any]:
        body = rules.decode(body, "PackageRevision")
        rules.check_name(body, name, namespace)
        with self._request(namespace, name, "packagerevisions", "package revision") as repo:
            rev = self._find(namespace, name, "packagerevisions")
            old_view = self.view(rev)
            new_lc = (body.get("spec") or {}).get("lifecycle", "")
            if approval:
                errs = rules.validate_approval(rev.lifecycle, new_lc)
            else:
                errs = rules.validate_update(old_view, body)
            if errs:
                raise errors.invalid("PackageRevision", name, errs)
            self._check_version(body, rev, "packagerevisions")
            meta = body.get("metadata") or {}
            labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != LATEST_LABEL}
            rev = dataclasses.replace(
                rev, labels=labels, annotations=dict(meta.get("annotations") or {})
            )
            rev = lifecycle.move(self, repo, rev, new_lc or "Draft", user)
            rev = self.index.put(rev)
        self.count("applied", "approval" if approval else "update")
        return self.view(rev)

    def update_resources(self, namespace: str, name: str, body: Any, user: str) -> dict[str, Any]:
        """PUT packagerevisionresources/{name}: replace a Draft's files and render them."""
        body = rules.decode(body, "PackageRevisionResources")
        rules.check_name(body, name, namespace)
        what = "package revision resources"
        with self._request(namespace, name, "packagerevisionresources", what) as repo:
            rev = self._find(namespace, name, "packagerevisionresources")
            self._check_version(body, rev, "packagerevisionresources")
            if rev.lifecycle != "Draft":
                raise errors.internal(
                    f'cannot update a package revision with lifecycle value "{rev.lifecycle}"; '
                    "package must be Draft"
                )
            files = dict((body.get("spec") or {}).get("resources") or {})
            if bad := [n for n in files if not _safe_path(n)]:
                raise errors.internal(f"invalid file path(s) in resources: {bad}")
            if pipeline.KPTFILE not in files:
                raise errors.internal("package must contain Kptfile at root: file does not exist")
            try:
                rendered = pipeline.render(files)
            except pipeline.RenderError as e:
                if rev.annotations.get(PUSH_ON_RENDER_FAILURE) != "true":
                    raise errors.internal(pipeline.RENDER_FAILED.format(e)) from e
                rev = lifecycle.save_resources(self, repo, rev, files, user)
                self.index.put(rev)
                raise errors.internal(pipeline.RENDER_PUSHED.format(e)) from e
            rev = self.index.put(lifecycle.save_resources(self, repo, rev, rendered.files, user))
        self.count("applied", "resources")
        return resources(rev, rendered.files, rendered.results)

    def delete(self, namespace: str, name: str, user: str) -> dict[str, Any]:
        """DELETE packagerevisions/{name}: 403 while Published, else its refs go."""
        rev = self._find(namespace, name, "packagerevisions")
        _refuse_published_delete(rev)
        with self._request(namespace, name, "packagerevisions", "package revision") as repo:
            rev = self._find(namespace, name, "packagerevisions")
            _refuse_published_delete(rev)
            view = self.view(rev)
            lifecycle.delete(self, repo, rev, user)
            self.index.remove(name)
        self.count("applied", "delete")
        return view

    def set_conditions(self, name: str, conditions: list[dict[str, str]]) -> dict[str, Any]:
        """Admin: report these conditions for the revision from now on (empty: simulate)."""
        rev = self._find(self.namespace, name, "packagerevisions")
        with self.repos[rev.repository].lock:
            rev = self._find(self.namespace, name, "packagerevisions")
            rev = self.index.put(
                dataclasses.replace(rev, conditions={c["type"]: dict(c) for c in conditions})
            )
        return self.view(rev)

    @contextmanager
    def revision_lock(self, name: str) -> Iterator[None]:
        """Hold ``name``'s request lock, as a request in flight would (tests use it)."""
        with self.index.hold(f"{self.namespace}/{name}"):
            yield

    # -- helpers -------------------------------------------------------------------------

    def _find(self, namespace: str, name: str, resource: str) -> Revision:
        rev = self.index.get(name) if namespace == self.namespace else None
        if rev is None:
            raise errors.not_found(resource, name)
        return rev

    @contextmanager
    def _request(self, namespace: str, name: str, resource: str, what: str) -> Iterator[Repository]:
        """The revision's request lock (409 if taken), then its repository's lock."""
        key = f"{namespace}/{name}"
        try:
            with self.index.try_lock(key):
                repo = self.repos[self._find(namespace, name, resource).repository]
                with repo.lock:
                    yield repo
        except Busy:
            self.count("conflicts", "in_flight")
            raise errors.in_flight(resource, name, what, key) from None

    def _check_version(self, body: Mapping[str, Any], rev: Revision, resource: str) -> None:
        version = (body.get("metadata") or {}).get("resourceVersion", "")
        if not version:
            raise errors.missing_resource_version()
        if version != rev.resource_version:
            self.count("conflicts", "stale")
            raise errors.stale(resource, rev.name)


def _refuse_published_delete(rev: Revision) -> None:
    if rev.lifecycle == "Published":
        raise errors.forbidden(
            "packagerevisions",
            rev.name,
            "published PackageRevisions must be proposed for deletion by setting "
            "spec.lifecycle to 'DeletionProposed' prior to deletion",
        )


def _safe_path(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and not {"", ".", "..", ".git"} & set(parts)
