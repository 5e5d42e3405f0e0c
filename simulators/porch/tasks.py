"""The one task a new PackageRevision is created with: where its first files come from.

``edit`` (``porchctl rpkg copy``) copies a Published revision of the same package, ``init`` writes
an empty kpt package, ``clone`` copies a package from another repository (a registered one, by
revision name, or any git URL) and records it as the Kptfile's upstream. Failures are the engine's
texts (``pkg/task/*.go``), answered by the registry as 500 InternalError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulators.porch import errors, pipeline
from simulators.porch.revisions import Revision

_KNOWN = ("init", "clone", "edit", "upgrade")


@dataclass(frozen=True, slots=True)
class Upstream:
    """A clone source outside the registered repositories."""

    repo: str
    ref: str
    directory: str


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task may look at: revisions by name, their files, and remote git packages."""

    repository: str
    package: str
    lookup: Callable[[str], Revision | None]
    files: Callable[[Revision], dict[str, str]]
    remote_url: Callable[[str], str]
    """The git URL of a registered repository (recorded as a clone's upstream)."""
    fetch: Callable[[Upstream], tuple[dict[str, str], str]]
    """Files and commit of a package in any git repository."""


def normalized(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task as Go would re-encode it: ``type`` first, then only that type's spec."""
    kind = str(task.get("type", ""))
    out: dict[str, Any] = {"type": kind}
    if kind in _KNOWN and task.get(kind) is not None:
        out[kind] = task[kind]
    return out


def apply(task: Mapping[str, Any], ctx: TaskContext) -> dict[str, str]:
    """The new revision's files, before its first render."""
    kind = str(task.get("type", ""))
    spec = task.get(kind) if kind in _KNOWN else None
    if kind in ("init", "clone", "edit") and not isinstance(spec, dict):
        raise errors.internal(f'{kind} not set for task of type "{kind}"')
    if kind == "init":
        return pipeline.init_files(ctx.package, spec or {})
    if kind == "edit":
        return _edit(spec or {}, ctx)
    if kind == "clone":
        return _clone(spec or {}, ctx)
    raise errors.internal(f'task of type "{kind}" not supported')


def _edit(spec: Mapping[str, Any], ctx: TaskContext) -> dict[str, str]:
    """``editPackageMutation``: a new revision from a Published one of the same package."""
    ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
    name = str(ref.get("name", ""))
    source = ctx.lookup(name)
    if source is None:
        raise errors.internal(
            f'failed to fetch package "{name}": cannot find package revision "{name}"'
        )
    if source.package != ctx.package or source.repository != ctx.repository:
        raise errors.internal(
            f"source revision must be from same package {ctx.repository}/{ctx.package}"
        )
    if source.placeholder:
        raise errors.internal(
            "source revision may not be the placeholder package revision "
            f"{source.repository}/{source.name}"
        )
    if not source.is_published:
        raise errors.internal("source revision must be published")
    return ctx.files(source)


def _clone(spec: Mapping[str, Any], ctx: TaskContext) -> dict[str, str]:
    """``clonePackageMutation``: copy an upstream package and record where it came from."""
    upstream = spec.get("upstreamRef") if isinstance(spec.get("upstreamRef"), dict) else {}
    by_name = upstream.get("upstreamRef") if isinstance(upstream.get("upstreamRef"), dict) else None
    git = upstream.get("git") if isinstance(upstream.get("git"), dict) else None
    if by_name is not None:
        name = str(by_name.get("name", ""))
        source = ctx.lookup(name)
        if source is None:
            raise errors.internal(f'cannot find upstream package revision "{name}"')
        files = ctx.files(source)
        where = {
            "repo": ctx.remote_url(source.repository),
            "directory": source.package,
            "ref": source.ref,
        }
        commit = source.commit
    elif git is not None:
        where = {k: str(git.get(k, "")) for k in ("repo", "ref", "directory")}
        if not where["repo"] or not where["ref"]:
            raise errors.internal("clone: upstreamRef.git needs repo and ref")
        files, commit = ctx.fetch(Upstream(where["repo"], where["ref"], where["directory"]))
    else:
        raise errors.internal("clone: upstreamRef needs git or upstreamRef")
    if pipeline.KPTFILE not in files:
        raise errors.internal(f"cannot clone {where['directory']!r}: no Kptfile at its root")
    files = dict(files)
    try:
        files[pipeline.KPTFILE] = pipeline.cloned_kptfile(
            files[pipeline.KPTFILE], ctx.package, where, commit
        )
    except pipeline.RenderError as e:
        raise errors.internal(str(e)) from e
    return files
