"""Pure edits of kpt package files (file name -> text), for the Nephio git writer and Porch client.

A direct git write bypasses Porch's render, so an edit here must also do what the package's
function pipeline would have done (nfdeploy-fn copies ``Capacity.spec`` into
``NFDeployment.spec.capacity``). YAML is edited round-trip with ruamel.yaml so that comments such
as ``# kpt-merge: /dataplane``, key order, quoting and annotations that kpt or Porch wrote survive,
and every file not edited comes back byte-identical.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap

from rapp.quantity import parse_quantity

CAPACITY_API = "req.nephio.org/v1alpha1"
NFDEPLOYMENT_API = "workload.nephio.org/v1alpha1"
KPTFILE = "Kptfile"
PACKAGE_CONTEXT = "kptfile.kpt.dev"
"""Fixed name of the package-context ConfigMap (kpt builtintypes.PkgContextName)."""

_OPENER = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")
"""A block mapping key with no value on its line: the next line shows the nesting indent."""


class PackageError(ValueError):
    """The package cannot take the requested edit (missing or ambiguous resource, bad YAML)."""


@dataclass(frozen=True, slots=True)
class Capacity:
    """The throughputs of a package's ``req.nephio.org/v1alpha1`` Capacity, as written."""

    max_uplink: str
    max_downlink: str


def read_capacity(files: Mapping[str, str]) -> Capacity:
    """The package's Capacity throughputs (strings, as written in the package)."""
    _, _, res = find_resource(load_resources(files, ["Capacity"]), CAPACITY_API, "Capacity")
    spec = res.get("spec") or {}
    return Capacity(
        max_uplink=str(spec.get("maxUplinkThroughput", "")),
        max_downlink=str(spec.get("maxDownlinkThroughput", "")),
    )


def set_capacity(files: Mapping[str, str], *, uplink: str, downlink: str) -> dict[str, str]:
    """Set Capacity throughputs and mirror ``Capacity.spec`` into ``NFDeployment.spec.capacity``.

    Both resources are found by apiVersion/kind, not by file name, because deployed packages
    may be reorganised. Only the files holding them are re-serialised.
    """
    for q in (uplink, downlink):
        parse_quantity(q)
    docs = load_resources(files)
    cap_file, _, cap = find_resource(docs, CAPACITY_API, "Capacity")
    nf_file, _, nf = find_resource(docs, NFDEPLOYMENT_API, "NFDeployment")
    spec = child_map(cap, "spec")
    spec["maxUplinkThroughput"] = quantity_value(uplink)
    spec["maxDownlinkThroughput"] = quantity_value(downlink)
    mirror(child_map(child_map(nf, "spec"), "capacity", after="provider"), spec)
    out = dict(files)
    for name in {cap_file, nf_file}:
        out[name] = dump_yaml(files[name], docs[name])
    return out


def set_package_name(files: Mapping[str, str], name: str) -> dict[str, str]:
    """Name a package the way kpt and Porch do on clone: Kptfile ``metadata.name`` and the
    package-context ConfigMap's ``data.name`` (which set-namespace turns into the namespace)."""
    if KPTFILE not in files:
        raise PackageError("package must contain Kptfile at root")
    out = dict(files)
    kptfile = _load(KPTFILE, files[KPTFILE])
    if not kptfile or not _is(kptfile[0], "kpt.dev/v1", "Kptfile"):
        raise PackageError("Kptfile is not a kpt.dev/v1 Kptfile")
    child_map(kptfile[0], "metadata")["name"] = name
    out[KPTFILE] = dump_yaml(files[KPTFILE], kptfile)
    for fname, docs in load_resources(files).items():
        contexts = [r for r in docs if _is(r, "v1", "ConfigMap") and _name(r) == PACKAGE_CONTEXT]
        for res in contexts:
            child_map(res, "data")["name"] = name
        if contexts:
            out[fname] = dump_yaml(files[fname], docs)
    return out


def _name(res: Mapping[str, Any]) -> str | None:
    meta = res.get("metadata")
    return meta.get("name") if isinstance(meta, Mapping) else None


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines
    return y


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _load(name: str, text: str) -> list[Any]:
    try:
        return [d for d in _yaml().load_all(text) if d is not None]
    except YAMLError as e:
        raise PackageError(f"{name}: not valid YAML: {e}") from e


def load_resources(
    files: Mapping[str, str], kinds: Iterable[str] | None = None
) -> dict[str, list[Any]]:
    """The YAML documents of each YAML file. With ``kinds``, only files whose text mentions
    one of them as a kind are parsed (round-trip parsing is the slow part of an edit, and a
    package has a dozen files where one or two matter); the rest are left out."""
    if kinds is None:
        wanted = None
    else:
        names = "|".join(re.escape(k) for k in kinds)
        # A resource's kind is a top-level key: at the start of a line in block style (a
        # selector's ``kind: Capacity`` is indented), or anywhere in a flow-style document.
        wanted = re.compile(
            rf"""^kind:\s*["']?(?:{names})["']?\s*(?:#.*)?$|^\s*\{{.*\bkind\b""", re.MULTILINE
        )
    return {
        n: _load(n, t)
        for n, t in sorted(files.items())
        if _is_yaml(n) and (wanted is None or wanted.search(t))
    }


def _is(res: Any, api: str, kind: str) -> bool:
    return isinstance(res, Mapping) and res.get("apiVersion") == api and res.get("kind") == kind


def find_resource(
    docs: Mapping[str, list[Any]], api: str, kind: str, name: str | None = None
) -> tuple[str, int, CommentedMap]:
    """The one resource of ``api``/``kind`` (and ``metadata.name``, if given): (file, index in
    the file, resource). None or several is a PackageError naming where they are."""
    hits = [
        (f, i, r)
        for f, rs in docs.items()
        for i, r in enumerate(rs)
        if _is(r, api, kind) and (name is None or _name(r) == name)
    ]
    what = f"{api} {kind}" + (f" {name!r}" if name else "")
    if not hits:
        raise PackageError(f"package has no {what}")
    if len(hits) > 1:
        where = ", ".join(f for f, _, _ in hits)
        raise PackageError(f"package has {len(hits)} {what} resources ({where}); expected one")
    return hits[0]


def child_map(parent: CommentedMap, key: str, *, after: str | None = None) -> CommentedMap:
    """``parent[key]`` as a mapping, created (after key ``after`` when present) if missing."""
    child = parent.get(key)
    if isinstance(child, CommentedMap):
        return child
    if child is not None:
        raise PackageError(f"{key} is a {type(child).__name__}, expected a mapping")
    child = CommentedMap()
    keys = list(parent.keys())
    pos = keys.index(after) + 1 if after in keys else len(keys)
    parent.insert(pos, key, child)
    return child


def mirror(target: CommentedMap, source: Mapping[str, Any]) -> None:
    """Make ``target`` equal ``source`` while keeping target's existing key order and comments:
    nfdeploy-fn replaces the whole capacity with ``Capacity.spec``."""
    for k in [k for k in target if k not in source]:
        del target[k]
    for k, v in source.items():
        if target.get(k) != v or type(target.get(k)) is not type(v):
            target[k] = v


def quantity_value(q: str) -> str | int:
    # Capacity fields are int-or-string: keep plain integers as YAML ints so they are not quoted.
    return int(q) if q.isdigit() else q


def dump_yaml(original: str, docs: list[Any]) -> str:
    y = _yaml()
    mapping, sequence, offset = _guess_indent(original)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    if original.lstrip().startswith("---"):
        y.explicit_start = True
    buf = io.StringIO()
    y.dump_all(docs, buf)
    return buf.getvalue()


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indents as ruamel takes them, read from the first nested
    mapping and the first block sequence under a key: ruamel has one setting per dump, so copy
    the file's own style rather than impose one."""
    mapping: int | None = None
    offset: int | None = None
    parent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        col = len(line) - len(stripped)
        if parent is not None and col >= parent:
            if stripped.startswith("- ") and offset is None:
                offset = col - parent
            elif not stripped.startswith("- ") and mapping is None and col > parent:
                mapping = col - parent
        m = _OPENER.match(line)
        parent = len(m[1]) if m else None
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = offset or 0
    return mapping, max(mapping, offset + 2), offset
