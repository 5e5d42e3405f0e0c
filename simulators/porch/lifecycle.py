"""Each lifecycle move and what it does to git, as Porch's git layer (``pkg/externalrepo/git``).

* create: the engine's checks (one task, unique workspace, clone only for a new package), the
  task's files rendered, and a commit on main's tip with them, pushed as ``drafts/<pkg>/<ws>``;
* resources update: a "Rendering package" commit on top of the draft;
* Draft <-> Proposed: the commit moves to ``proposed/<pkg>/<ws>`` (or back) and the old branch goes;
* approval: a merge commit on main (parents: main's tip and the proposal) whose message is
  ``Approving package revision <pkg>/<N>`` + ``kpt:{...}``, tagged ``<pkg>/v<N>``, pushed with main
  and the proposal branch's deletion in one atomic push; N = highest published + 1, recomputed
  after a fetch if another writer got there first;
* Published <-> DeletionProposed: the branch ``deletionProposed/<pkg>/v<N>`` is pushed or deleted;
* delete: the revision's branch, or its tag and deletion-proposal branch, goes (for the main
  placeholder, a "Delete <pkg>" commit on main).

Every function runs with the repository's lock held, and returns the changed ``Revision`` for the
caller to store: git first, index after.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from simulators.porch import errors, pipeline, tasks
from simulators.porch.gitrepo import GitRepo, RefUpdate, redact
from simulators.porch.names import object_name_error, revision_name, revision_number
from simulators.porch.revisions import Revision
from simulators.porch.tasks import Upstream

if TYPE_CHECKING:
    from simulators.porch.store import Repository, Store

log = logging.getLogger(__name__)

_HEADS = "refs/heads/"
_HEADERS = {
    "init": "Creating new empty revision",
    "clone": "Creating new revision by cloning",
    "edit": "Creating new revision by copying previous revision",
    "upgrade": "Upgrading revision",
    "render": "Rendering package",
}
_PUBLISH_ATTEMPTS = 5


def annotate(message: str, package: str, workspace: str, revision: int, task: Any = None) -> str:
    """``annotateCommitMessage``: Go's json.Marshal of gitAnnotation, on a line of its own."""
    note: dict[str, Any] = {
        "package": package,
        "workspaceName": workspace,
        "revision": str(revision),
    }
    if task is not None:
        note["task"] = task
    return f"{message}\n\nkpt:{json.dumps(note, separators=(',', ':'))}\n"


def _draft_message(kind: str, package: str, workspace: str, task: Any) -> str:
    header = _HEADERS.get(kind, f"Intermediate commit: {kind}")
    return annotate(header + "\n", package, workspace, 0, task)


def _branch(lifecycle: str, rev: Revision) -> str:
    prefix = {"Draft": "drafts", "Proposed": "proposed"}[lifecycle]
    return f"{_HEADS}{prefix}/{rev.package}/{rev.workspace}"


def _push_or_fail(store: Store, repo: Repository, updates: list[RefUpdate], what: str) -> None:
    """Push, or re-sync (someone else moved a ref) and answer 500 as Porch would."""
    if not repo.git.push(updates):
        store.sync_locked(repo)
        raise errors.internal(
            f"failed to update git references ({what}): the remote changed under us; "
            "repository re-synced, retry"
        )


def _tree_of(git: GitRepo, commit: str, package: str) -> str:
    found = git.objects([f"{commit}:{package}"])[0]
    if found is None:
        raise errors.internal(f"package {package} vanished from commit {commit}")
    return found[0]


def fetch_upstream(git: GitRepo, up: Upstream) -> tuple[dict[str, str], str]:
    """A package from any git repository, for a clone task: (files, commit)."""
    directory = up.directory.strip("/")
    if not directory:
        raise errors.internal("clone from git needs upstreamRef.git.directory")
    # kpt resolves a plain ref against directory-prefixed tags first (v1 -> <dir>/v1).
    for ref in (f"refs/tags/{directory}/{up.ref}", up.ref):
        commit = git.fetch_ref(up.repo, ref)
        if commit:
            return git.read(git.entries(commit, directory)), commit
    raise errors.internal(f"cannot find git reference {up.ref!r} in {redact(up.repo)}")


def _commit_draft(
    git: GitRepo,
    package: str,
    workspace: str,
    task: Mapping[str, Any],
    files: Mapping[str, str],
    user: str,
) -> tuple[str, str]:
    """Commit the draft on main's tip and push its branch: (commit, package tree)."""
    branches, _ = git.refs()
    main = branches.get(git.branch)
    old = git.entries(main, package)
    tree = git.tree_with(main, package, git.blobs(files, old))
    message = _draft_message(str(task["type"]), package, workspace, dict(task))
    commit = git.commit_tree(tree, [main] if main else [], message, author=user)
    branch = f"{_HEADS}drafts/{package}/{workspace}"
    if not git.push([RefUpdate(branch, commit, None)]):
        raise errors.internal(f"branch drafts/{package}/{workspace} already exists in git")
    log.info("created drafts/%s/%s (%s)", package, workspace, commit[:12])
    return commit, _tree_of(git, commit, package)


def create(
    store: Store, repo: Repository, spec: Mapping[str, Any], meta: Mapping[str, Any], user: str
) -> Revision:
    """A new Draft from the request's one task (the engine's ``CreatePackageRevision``)."""
    package, workspace = spec["packageName"], spec["workspaceName"]
    task_list = spec.get("tasks") or []
    if len(task_list) > 1:
        raise errors.internal("task list must not contain more than one task")
    task = tasks.normalized(
        task_list[0]
        if task_list
        else {"type": "init", "init": {"description": f"{package} description"}}
    )
    if problem := object_name_error(repo.name, package, workspace):
        raise errors.internal(f"failed to create packagerevision: {problem}")
    siblings = [r for r in store.index.all() if r.repository == repo.name and r.package == package]
    name = revision_name(repo.name, package, workspace)
    if any(r.workspace == workspace for r in siblings):
        raise errors.already_exists(
            "packagerevisions",
            name,
            "package revision workspaceNames must be unique; package revision with name "
            f"{package} in repo {repo.name} with workspaceName {workspace} already exists",
        )
    if task["type"] == "clone" and siblings:
        raise errors.internal(
            f'`clone` cannot create a new revision for package "{package}" that already '
            f'exists in repo "{repo.name}"; make subsequent revisions using `copy`'
        )
    ctx = tasks.TaskContext(
        repository=repo.name,
        package=package,
        lookup=store.index.get,
        files=store.files,
        remote_url=lambda r: redact(store.repos[r].git.remote),
        fetch=lambda up: fetch_upstream(repo.git, up),
    )
    try:
        rendered = pipeline.render(tasks.apply(task, ctx))
    except pipeline.RenderError as e:
        raise errors.internal(pipeline.RENDER_FAILED.format(e)) from e
    commit, tree = _commit_draft(repo.git, package, workspace, task, rendered.files, user)
    gates = [
        str(g.get("conditionType")) for g in spec.get("readinessGates") or [] if isinstance(g, dict)
    ]
    return Revision(
        repository=repo.name,
        package=package,
        workspace=workspace,
        revision=0,
        lifecycle="Draft",
        commit=commit,
        tree=tree,
        namespace=store.namespace,
        resource_version="",
        created=time.time(),
        tasks=[task],
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        ready_at=time.monotonic() + store.ready_delay_s,
        extra_gates=[g for g in gates if g],
    )


def save_resources(
    store: Store, repo: Repository, rev: Revision, files: Mapping[str, str], user: str
) -> Revision:
    """A "Rendering package" commit on the draft holding exactly ``files``."""
    git = repo.git
    tree = git.tree_with(
        rev.commit, rev.package, git.blobs(files, git.entries(rev.commit, rev.package))
    )
    message = _draft_message("render", rev.package, rev.workspace, {"type": "render"})
    commit = git.commit_tree(tree, [rev.commit], message, author=user)
    _push_or_fail(store, repo, [RefUpdate(_branch("Draft", rev), commit, rev.commit)], "render")
    return dataclasses.replace(rev, commit=commit, tree=_tree_of(git, commit, rev.package))


def move(store: Store, repo: Repository, rev: Revision, new: str, user: str) -> Revision:
    """Take ``rev`` to lifecycle ``new`` in git (validated already); metadata-only if same."""
    old = rev.lifecycle
    if new == old:
        return rev
    if {old, new} <= {"Draft", "Proposed"}:
        updates = [
            RefUpdate(_branch(new, rev), rev.commit, None),
            RefUpdate(_branch(old, rev), None, rev.commit),
        ]
        _push_or_fail(store, repo, updates, f"{old} -> {new}")
        return dataclasses.replace(rev, lifecycle=new)
    if (old, new) == ("Proposed", "Published"):
        return _publish(store, repo, rev, user)
    if (old, new) == ("Published", "DeletionProposed"):
        updates = [RefUpdate(_HEADS + rev.deletion_branch, rev.commit, None)]
    elif (old, new) == ("DeletionProposed", "Published"):
        updates = _drop_deletion_branch(repo.git, rev)
    else:  # the rules let nothing else through
        raise errors.internal(f"invalid new lifecycle value: {new!r}")
    _push_or_fail(store, repo, updates, f"{old} -> {new}")
    return dataclasses.replace(rev, lifecycle=new)


def _publish(store: Store, repo: Repository, rev: Revision, user: str) -> Revision:
    git = repo.git
    for _ in range(_PUBLISH_ATTEMPTS):
        branches, tags = git.refs()
        main = branches.get(git.branch)
        numbers = [
            r.revision
            for r in store.index.all()
            if r.repository == repo.name and r.package == rev.package and r.is_published
        ]
        numbers += [
            revision_number(t.rpartition("/")[2])
            for t in tags
            if t.rpartition("/")[0] == rev.package
        ]
        n = 1 + max([0, *numbers])
        tree = git.tree_with(main, rev.package, git.entries(rev.commit, rev.package))
        message = annotate(
            f"Approving package revision {rev.package}/{n}", rev.package, rev.workspace, n
        )
        commit = git.commit_tree(tree, [p for p in (main, rev.commit) if p], message, author=user)
        updates = [
            RefUpdate(f"{_HEADS}{git.branch}", commit, main),
            RefUpdate(f"refs/tags/{rev.package}/v{n}", commit, None),
            RefUpdate(_branch("Proposed", rev), None, rev.commit),
        ]
        if git.push(updates):
            break
        # Another writer published (or moved main) since our last look: catch up, renumber.
        store.sync_locked(repo)
        current = store.index.get(rev.name)
        if current is None or current.lifecycle != "Proposed" or current.commit != rev.commit:
            raise errors.internal(f"{rev.name} changed in git while being approved; re-read it")
    else:
        raise errors.internal(
            f"failed to publish {rev.name}: main kept moving ({_PUBLISH_ATTEMPTS} attempts)"
        )
    now = time.time()
    log.info("published %s as %s/v%d (%s)", rev.name, rev.package, n, commit[:12])
    _move_placeholder(store, repo, rev, commit)
    return dataclasses.replace(
        rev, revision=n, lifecycle="Published", commit=commit, published_at=now, published_by=user
    )


def _move_placeholder(store: Store, repo: Repository, rev: Revision, main: str) -> None:
    """Main now holds the new revision: so does the package's placeholder revision."""
    name = revision_name(repo.name, rev.package, repo.git.branch)
    old = store.index.get(name)
    if old is None:
        old = dataclasses.replace(
            rev, workspace=repo.git.branch, revision=-1, lifecycle="Published", tasks=[],
            labels={}, annotations={}, created=time.time(), placeholder=True, extra_gates=[],
            conditions={}, ready_at=0.0,
        )  # fmt: skip
    store.index.put(dataclasses.replace(old, commit=main, tree=rev.tree, published_at=time.time()))


def _drop_deletion_branch(git: GitRepo, rev: Revision) -> list[RefUpdate]:
    branches, _ = git.refs()
    current = branches.get(rev.deletion_branch)
    return [RefUpdate(_HEADS + rev.deletion_branch, None, current)] if current else []


def delete(store: Store, repo: Repository, rev: Revision, user: str) -> None:
    git = repo.git
    if rev.lifecycle in ("Draft", "Proposed"):
        updates = [RefUpdate(_branch(rev.lifecycle, rev), None, rev.commit)]
    elif rev.placeholder:
        branches, _ = git.refs()
        main = branches.get(git.branch)
        tree = git.tree_with(main, rev.package, {})
        commit = git.commit_tree(tree, [main] if main else [], f"Delete {rev.package}", author=user)
        updates = [RefUpdate(f"{_HEADS}{git.branch}", commit, main)]
    else:
        updates = [RefUpdate(f"refs/tags/{rev.tag}", None, rev.commit)]
    if rev.lifecycle == "DeletionProposed":
        updates += _drop_deletion_branch(git, rev)
    _push_or_fail(store, repo, updates, f"delete {rev.name}")
    log.info("deleted %s (%s)", rev.name, rev.lifecycle)
