"""Which PackageRevisions a git repository holds, read the way Porch's git layer reads it.

* a tag ``<pkg>/v<N>`` on a commit whose tree has ``<pkg>/Kptfile``: Published revision N; its
  workspace is the ``workspaceName`` of the commit's ``kpt:{...}`` line for that package, or
  ``v<N>`` without one. A tag whose last part is not ``v<integer>`` (``pkg/v2.0.0``) is revision
  -1 with that part as workspace. Tags without a ``/`` are ignored.
* a branch ``drafts/<pkg>/<ws>`` or ``proposed/<pkg>/<ws>``: a Draft or Proposed revision 0.
* every package on ``main``: the placeholder revision -1, workspace ``main``.
* a branch ``deletionProposed/<pkg>/v<N>`` (or ``/<ws>`` for revision -1) marks the published
  revision DeletionProposed.

Tasks come from the ``task`` of the kpt annotations in the revision's history, as Porch's
``loadTasks`` finds them (the first task of that package and workspace).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from simulators.porch.gitrepo import GitRepo
from simulators.porch.index import Index
from simulators.porch.names import revision_name, revision_number
from simulators.porch.revisions import Revision

log = logging.getLogger(__name__)

FIRST_TASKS = ("init", "clone", "edit", "upgrade")


@dataclass(frozen=True, slots=True)
class Found:
    """One revision as git shows it; the store turns it into a ``Revision``."""

    package: str
    workspace: str
    revision: int
    lifecycle: str
    commit: str
    tree: str
    created: float
    published_at: float | None = None
    published_by: str = ""
    tasks: list[dict[str, Any]] = field(default_factory=list)
    placeholder: bool = False


@dataclass(slots=True)
class _Candidate:
    package: str
    workspace: str
    revision: int
    lifecycle: str
    commit: str
    placeholder: bool = False


def annotations(message: str) -> Iterator[dict[str, Any]]:
    """The ``kpt:{...}`` lines of a commit message (``extractGitAnnotations``)."""
    for line in message.split("\n"):
        line = line.strip()
        if line.startswith("kpt:"):
            try:
                data = json.loads(line[4:])
            except ValueError:
                continue
            if isinstance(data, dict):
                yield data


def discover(repo: GitRepo) -> list[Found]:
    """Every revision in the (already fetched) local clone of ``repo``."""
    branches, tags = repo.refs()
    deletion = {
        b.removeprefix("deletionProposed/") for b in branches if b.startswith("deletionProposed/")
    }
    candidates: list[_Candidate] = []
    for tag, sha in sorted(tags.items()):
        path, _, last = tag.rpartition("/")
        if path:
            n = revision_number(last)
            ws = "" if n > 0 else last
            candidates.append(_Candidate(path, ws, n, "Published", sha))
    for branch, sha in sorted(branches.items()):
        for prefix, lifecycle in (("drafts/", "Draft"), ("proposed/", "Proposed")):
            if branch.startswith(prefix):
                path, _, ws = branch.removeprefix(prefix).rpartition("/")
                if path and ws:
                    candidates.append(_Candidate(path, ws, 0, lifecycle, sha))
    main = branches.get(repo.branch)
    if main:
        for path in repo.package_dirs(main):
            candidates.append(_Candidate(path, repo.branch, -1, "Published", main, True))
    specs = [f"{c.commit}:{c.package}" for c in candidates]
    specs += [f"{c.commit}:{c.package}/Kptfile" for c in candidates]
    objects = repo.objects(specs)
    trees, kptfiles = objects[: len(candidates)], objects[len(candidates) :]
    found: list[Found] = []
    for cand, tree, kptfile in zip(candidates, trees, kptfiles, strict=True):
        if tree is None or tree[1] != "tree" or kptfile is None or kptfile[1] != "blob":
            continue  # not a package at that ref (a release tag, a stray branch)
        found.append(_found(repo, cand, tree[0], deletion))
    return _unique(found)


def _found(repo: GitRepo, cand: _Candidate, tree: str, deletion: set[str]) -> Found:
    commit = repo.commit(cand.commit)
    workspace = cand.workspace
    if cand.revision > 0:
        workspace = _workspace(commit.message, cand.package) or f"v{cand.revision}"
    lifecycle = cand.lifecycle
    if lifecycle == "Published":
        mark = f"v{cand.revision}" if cand.revision > 0 else workspace
        if f"{cand.package}/{mark}" in deletion:
            lifecycle = "DeletionProposed"
    tasks = [] if cand.placeholder else _tasks(repo, cand.commit, cand.package, workspace)
    published = cand.lifecycle == "Published"
    return Found(
        package=cand.package,
        workspace=workspace,
        revision=cand.revision,
        lifecycle=lifecycle,
        commit=cand.commit,
        tree=tree,
        created=float(commit.author_time),
        published_at=float(commit.author_time) if published else None,
        published_by=commit.author_email if published else "",
        tasks=tasks,
        placeholder=cand.placeholder,
    )


def _workspace(message: str, package: str) -> str:
    for a in annotations(message):
        if a.get("package") == package and a.get("workspaceName"):
            return str(a["workspaceName"])
    return ""


def _tasks(repo: GitRepo, sha: str, package: str, workspace: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for message in repo.messages(sha):
        for a in annotations(message):
            same_ws = a.get("workspaceName") == workspace or (
                not a.get("workspaceName") and a.get("revision") == workspace
            )
            task = a.get("task")
            if a.get("package") != package or not same_ws or not isinstance(task, dict):
                continue
            if task.get("type") in FIRST_TASKS:
                tasks = [task]
            if task.get("type") in ("init", "clone"):
                return tasks  # the start of this revision: nothing older belongs to it
    return tasks


def _unique(found: list[Found]) -> list[Found]:
    """One revision per (package, workspace): published beats unpublished, lower number wins.

    Porch would list both under one name; a simulator that must answer GET by name cannot.
    """
    rank = {"Published": 0, "DeletionProposed": 0, "Proposed": 1, "Draft": 2}
    best: dict[tuple[str, str], Found] = {}
    for f in sorted(found, key=lambda f: (rank[f.lifecycle], f.revision)):
        key = (f.package, f.workspace)
        if key in best:
            log.warning(
                "%s/%s: revision %d hides revision %d of the same workspace",
                f.package, f.workspace, best[key].revision, f.revision,
            )  # fmt: skip
            continue
        best[key] = f
    return list(best.values())


def reconcile(
    index: Index, repository: str, namespace: str, found: list[Found]
) -> dict[str, list[str]]:
    """Make ``index``'s revisions of ``repository`` what git shows (Porch's repository sync).

    A revision git still has unchanged keeps its Kubernetes metadata and resourceVersion; one
    that moved (another writer) keeps its labels but gets a new resourceVersion; one git no
    longer has goes. A placeholder whose package did not change keeps its version even when
    main moved on for another package.
    """
    current = {r.name: r for r in index.all() if r.repository == repository}
    added, changed = [], []
    for f in found:
        name = revision_name(repository, f.package, f.workspace)
        old = current.pop(name, None)
        if old is None:
            index.put(_from_git(repository, namespace, f))
            added.append(name)
        elif (old.lifecycle, old.revision, old.tree) != (f.lifecycle, f.revision, f.tree) or (
            old.commit != f.commit and not f.placeholder
        ):
            index.put(
                dataclasses.replace(
                    old,
                    revision=f.revision,
                    lifecycle=f.lifecycle,
                    commit=f.commit,
                    tree=f.tree,
                    tasks=f.tasks or old.tasks,
                    published_at=old.published_at if f.published_at is None else f.published_at,
                    published_by=f.published_by or old.published_by,
                )
            )
            changed.append(name)
        elif old.commit != f.commit:
            index.put(dataclasses.replace(old, commit=f.commit), bump=False)
    for name in current:
        index.remove(name)
    if added or changed or current:
        log.info("sync %s: +%s ~%s -%s", repository, added, changed, sorted(current))
    return {"added": added, "changed": changed, "removed": sorted(current)}


def _from_git(repository: str, namespace: str, f: Found) -> Revision:
    return Revision(
        repository=repository,
        package=f.package,
        workspace=f.workspace,
        revision=f.revision,
        lifecycle=f.lifecycle,
        commit=f.commit,
        tree=f.tree,
        namespace=namespace,
        resource_version="",
        created=f.created,
        tasks=f.tasks,
        published_at=f.published_at,
        published_by=f.published_by,
        placeholder=f.placeholder,
    )
