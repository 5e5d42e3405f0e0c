"""The package's kpt function pipeline, as far as the simulator runs it: nfdeploy-fn.

Porch renders a package (runs its Kptfile ``pipeline.mutators``) after every resources update.
No function image can run here, so each mutator is a no-op except ``nfdeploy-fn``, emulated
the way the free5gc UPF blueprint relies on it: ``Capacity.spec`` (``req.nephio.org/v1alpha1``)
becomes ``NFDeployment.spec.capacity`` (``workload.nephio.org/v1alpha1``), as nephio
``krm-functions/nfdeploy-fn`` ``FillCapacityDetails`` does. Only the file holding the
NFDeployment may change, and only when its capacity differs; it is edited round-trip (comments
such as ``# kpt-merge``, key order and quoting survive) and every other file stays byte-identical.

This is the simulator's own code on purpose: it checks the rApp's package edits, so it must not
share them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError

KPTFILE = "Kptfile"
CAPACITY = ("req.nephio.org/v1alpha1", "Capacity")
NFDEPLOYMENT = ("workload.nephio.org/v1alpha1", "NFDeployment")
# nephio api nf_requirements/v1alpha1 CapacitySpec, in struct order: the only fields copied.
CAPACITY_FIELDS = (
    "maxUplinkThroughput",
    "maxDownlinkThroughput",
    "maxSessions",
    "maxSubscribers",
    "maxNFConnections",
)
RENDER_FAILED = (
    "error rendering package in kpt function pipeline. Package NOT pushed to remote. "
    "Fix locally (until 'kpt fn render' succeeds) and retry. Details: {}"
)
RENDER_PUSHED = (
    "error rendering package in kpt function pipeline. "
    "Package pushed to remote despite render failure. Details: {}"
)
"""The engine's texts for a failed render, without and with push-on-render-failure."""


class RenderError(ValueError):
    """The pipeline failed; Porch refuses the update unless push-on-render-failure is set."""


@dataclass(slots=True)
class Rendered:
    files: dict[str, str]
    results: list[dict[str, Any]] = field(default_factory=list)


def render(files: Mapping[str, str]) -> Rendered:
    """Run the Kptfile's pipeline over ``files``; raise RenderError as ``kpt fn render`` would."""
    if KPTFILE not in files:
        raise RenderError("package must contain Kptfile at root")
    kptfile = _safe_load(KPTFILE, files[KPTFILE])
    pipeline = kptfile.get("pipeline") if isinstance(kptfile, dict) else None
    mutators = pipeline.get("mutators") if isinstance(pipeline, dict) else None
    if not isinstance(kptfile, dict):
        raise RenderError("Kptfile is not a kpt.dev/v1 Kptfile")
    images = [str(m.get("image", "")) for m in mutators or [] if isinstance(m, dict)]
    out = Rendered(dict(files))
    for image in images:
        if "nfdeploy-fn" in image:
            _nfdeploy(out.files)
        out.results.append({"image": image, "exitCode": 0})
    return out


def _safe_load(name: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RenderError(f"{name}: not valid YAML: {e}") from e


def _is(res: Any, api_kind: tuple[str, str]) -> bool:
    return isinstance(res, dict) and (res.get("apiVersion"), res.get("kind")) == api_kind


def _nfdeploy(files: dict[str, str]) -> None:
    """Mirror the one Capacity's spec into every NFDeployment's ``spec.capacity``."""
    docs: dict[str, list[Any]] = {}
    for name, text in sorted(files.items()):
        if name.endswith((".yaml", ".yml")):
            try:
                docs[name] = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as e:
                raise RenderError(f"{name}: not valid YAML: {e}") from e
    capacities = [r for rs in docs.values() for r in rs if _is(r, CAPACITY)]
    if not capacities:
        return  # nfdeploy-fn leaves capacity alone when the package requests none
    if len(capacities) > 1:
        raise RenderError(f"nfdeploy-fn: expected one {CAPACITY[1]}, found {len(capacities)}")
    spec = capacities[0].get("spec") or {}
    if not isinstance(spec, dict):
        raise RenderError("nfdeploy-fn: Capacity.spec is not a mapping")
    wanted = {k: spec[k] for k in CAPACITY_FIELDS if spec.get(k) not in (None, "", 0)}
    for name, resources in docs.items():
        stale = [
            r
            for r in resources
            if _is(r, NFDEPLOYMENT) and not _same(((r.get("spec") or {}).get("capacity")), wanted)
        ]
        if stale:
            files[name] = _rewrite(files[name], wanted)


def _same(current: Any, wanted: Mapping[str, Any]) -> bool:
    # Quantities are int-or-string: 10 and "10" are the same capacity.
    if not isinstance(current, dict):
        return not wanted
    return {k: str(v) for k, v in current.items()} == {k: str(v) for k, v in wanted.items()}


def _round_trip() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line
    return y


def _rewrite(text: str, wanted: Mapping[str, Any]) -> str:
    try:
        docs = list(_round_trip().load_all(text))
    except RuamelYAMLError as e:
        raise RenderError(f"nfdeploy-fn: cannot edit NFDeployment: {e}") from e
    for res in docs:
        if _is(res, NFDEPLOYMENT):
            spec = _child(res, "spec", after="metadata")
            _mirror(_child(spec, "capacity", after="provider"), wanted)
    y = _round_trip()
    y.indent(*_indents(text))
    y.explicit_start = text.lstrip().startswith("---")
    buf = io.StringIO()
    y.dump_all(docs, buf)
    return buf.getvalue()


def _child(parent: CommentedMap, key: str, *, after: str) -> CommentedMap:
    child = parent.get(key)
    if isinstance(child, CommentedMap):
        return child
    child = CommentedMap()
    keys = list(parent)
    parent.insert(keys.index(after) + 1 if after in keys else len(keys), key, child)
    return child


def _mirror(target: CommentedMap, wanted: Mapping[str, Any]) -> None:
    """nfdeploy-fn replaces the whole capacity; keep the existing keys' order and comments."""
    for key in [k for k in target if k not in wanted]:
        del target[key]
    for key, value in wanted.items():
        if key not in target or str(target[key]) != str(value):
            target[key] = value


def _indents(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as the file already has them: ruamel imposes one style per
    dump, so copy the file's own rather than reformat lines nobody asked to change."""
    mapping = offset = None
    parent: int | None = None
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        col = len(line) - len(body)
        if parent is not None and col >= parent:
            if body.startswith("- ") and offset is None:
                offset = col - parent
            elif not body.startswith("- ") and mapping is None and col > parent:
                mapping = col - parent
        stripped = body.split(" #", 1)[0].rstrip()
        parent = col if stripped.endswith(":") and not body.startswith("- ") else None
    mapping = mapping or 2
    offset = offset or 0
    return mapping, max(mapping, offset + 2), offset


# -- files of the init and clone tasks ----------------------------------------------------


def init_files(package: str, task: Mapping[str, Any]) -> dict[str, str]:
    """What ``kpt pkg init`` writes (kpt ``kptpkg.DefaultInitializer``)."""
    name = package.rpartition("/")[2]
    description = str(task.get("description") or "sample description")
    info = [f"  description: {_scalar(description)}"]
    if task.get("site"):
        info.insert(0, f"  site: {_scalar(str(task['site']))}")
    if task.get("keywords"):
        info.append("  keywords:")
        info += [f"  - {_scalar(str(k))}" for k in task["keywords"]]
    kptfile = (
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n"
        f'  name: {name}\n  annotations:\n    config.kubernetes.io/local-config: "true"\n'
        "info:\n" + "\n".join(info) + "\n"
    )
    readme = (
        f"# {name}\n\n## Description\n{description}\n\n## Usage\n\n### Fetch the package\n"
        f"`kpt pkg get REPO_URI[.git]/PKG_PATH[@VERSION] {name}`\n"
        "Details: https://kpt.dev/reference/cli/pkg/get/\n\n### View package content\n"
        f"`kpt pkg tree {name}`\nDetails: https://kpt.dev/reference/cli/pkg/tree/\n\n"
        f"### Apply the package\n```\nkpt live init {name}\n"
        f"kpt live apply {name} --reconcile-timeout=2m --output=table\n```\n"
        "Details: https://kpt.dev/reference/cli/live/\n"
    )
    context = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n  annotations:\n"
        '    config.kubernetes.io/local-config: "true"\ndata:\n  name: example\n'
    )
    return {KPTFILE: kptfile, "README.md": readme, "package-context.yaml": context}


def _scalar(text: str) -> str:
    return yaml.safe_dump(text, default_style=None, width=4096).removesuffix("\n...\n").strip()


def cloned_kptfile(text: str, package: str, upstream: Mapping[str, str], commit: str) -> str:
    """The upstream's Kptfile renamed to ``package`` with ``upstream``/``upstreamLock`` set,
    as ``kpt pkg get`` (and Porch's clone task) leave it."""
    y = _round_trip()
    try:
        doc = y.load(text)
    except RuamelYAMLError as e:
        raise RenderError(f"Kptfile: not valid YAML: {e}") from e
    if not isinstance(doc, CommentedMap):
        raise RenderError("Kptfile is not a mapping")
    _child(doc, "metadata", after="kind")["name"] = package.rpartition("/")[2]
    git = CommentedMap(
        [("repo", upstream["repo"]), ("directory", upstream["directory"]), ("ref", upstream["ref"])]
    )
    doc["upstream"] = CommentedMap([("type", "git"), ("git", git)])
    lock = CommentedMap([*git.items(), ("commit", commit)])
    doc["upstreamLock"] = CommentedMap([("type", "git"), ("git", lock)])
    y.indent(*_indents(text))
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()
