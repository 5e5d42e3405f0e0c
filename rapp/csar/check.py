"""The rApp Manager's onboarding checks, replayed on a package before anyone uploads it.

The rApp Manager (``rapp-manager-models/.../csar/validator``) refuses a package whose name does
not end in ``.csar``, that lacks ``TOSCA-Metadata/TOSCA.meta`` or
``Files/Acm/definition/compositions.json``, whose ASD (found through ``Entry-Definitions``) has
no ``descriptor_id`` or ``descriptor_invariant_id`` or one an onboarded package already has, or
whose ASD names an artifact the package lacks. It finds malformed JSON only later, when an
instance is created or deployed; so these checks also parse every JSON and YAML file, and open
the Helm chart, to fail at packaging time instead.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
import zipfile
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

TOSCA_META = "TOSCA-Metadata/TOSCA.meta"
COMPOSITIONS = "Files/Acm/definition/compositions.json"
_REGEX_SPECIAL = re.compile(r"[+*?()\[\]{}|^$\\]")
_ASD_PATH = ("topology_template", "node_templates", "applicationServiceDescriptor")
_DIRECTORIES = {  # the rApp Manager's folders, and what each file must be
    "Files/Acm/instances/": dict,
    "Files/Sme/providers/": dict,
    "Files/Sme/serviceapis/": dict,
    "Files/Sme/invokers/": list,
    "Files/Dme/producerinfotypes/": dict,
    "Files/Dme/consumerinfotypes/": dict,
    "Files/Dme/infoproducers/": dict,
    "Files/Dme/infoconsumers/": dict,
}


def check_csar(path: Path, *, onboarded_ids: Collection[str] = ()) -> list[str]:
    """What the rApp Manager (or a later deploy) would refuse in the package at ``path``; empty
    when it would onboard. ``onboarded_ids`` are the descriptor ids already onboarded."""
    if not path.name.endswith(".csar"):
        return [f"{path.name}: rApp package name should end with .csar"]
    try:
        with zipfile.ZipFile(path) as csar:
            files = {n: csar.read(n) for n in csar.namelist() if not n.endswith("/")}
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path.name}: not a readable zip archive: {exc}"]
    return check_files(files, onboarded_ids=onboarded_ids)


def check_files(files: dict[str, bytes], *, onboarded_ids: Collection[str] = ()) -> list[str]:
    """:func:`check_csar` on the package's files by archive path."""
    problems = [
        f"rApp package missing a file {p}" for p in (TOSCA_META, COMPOSITIONS) if p not in files
    ]
    for name, data in sorted(files.items()):
        problems += _well_formed(name, data)
    if TOSCA_META in files:
        problems += _check_asd(files, onboarded_ids)
    return problems


def _well_formed(name: str, data: bytes) -> list[str]:
    suffix = PurePosixPath(name).suffix
    try:
        if suffix == ".json":
            doc: Any = json.loads(data)
            folder = next((f for f in _DIRECTORIES if name.startswith(f)), None)
            if folder is not None and not isinstance(doc, _DIRECTORIES[folder]):
                kind = "an array" if _DIRECTORIES[folder] is list else "an object"
                return [f"{name}: must hold {kind}, not {type(doc).__name__}"]
        elif suffix in (".yaml", ".yml"):
            yaml.safe_load(data)
        elif suffix == ".tgz":
            return _check_chart(name, data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [f"{name}: not valid JSON: {exc}"]
    except yaml.YAMLError as exc:
        return [f"{name}: not valid YAML: {exc}"]
    return []


def _check_asd(files: dict[str, bytes], onboarded_ids: Collection[str]) -> list[str]:
    meta = _tosca_meta(files[TOSCA_META])
    entry = meta.get("Entry-Definitions")
    if not entry:
        return [f"{TOSCA_META}: no Entry-Definitions"]
    if entry not in files:
        return [f"{TOSCA_META}: Entry-Definitions names {entry}, which the package lacks"]
    try:
        node: Any = yaml.safe_load(files[entry])
        for key in _ASD_PATH:
            node = node[key]
        properties, artifacts = node.get("properties") or {}, node.get("artifacts") or {}
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        return [f"{entry}: ASD definition in rApp package is invalid."]
    problems = []
    for key in ("descriptor_id", "descriptor_invariant_id"):
        value = properties.get(key)
        if not value:
            problems.append(f"{entry}: ASD has no {key}")
        elif not _is_uuid(str(value)):
            problems.append(f"{entry}: ASD {key} {value!r} is not a UUID (RFC 4122)")
        elif str(value) in onboarded_ids:
            problems.append(f"{entry}: ASD descriptor already exists ({key} {value})")
    for name, artifact in artifacts.items():
        file = (artifact or {}).get("file")
        if not file:
            problems.append(f"{entry}: artifact {name} names no file")
        elif file not in files:
            problems.append(f"{entry}: artifact {name} names {file}, which the package lacks")
        elif _REGEX_SPECIAL.search(file):
            # The rApp Manager looks artifacts up with String.matches: the path is a regex.
            problems.append(
                f"{entry}: artifact {name}'s path {file} holds a regex metacharacter; the rApp "
                "Manager would not find it (a chart version like 1.0.0+build does this)"
            )
    for imported in _imports(files[entry]):
        path = str(PurePosixPath(entry).parent / imported)
        if path not in files:
            problems.append(f"{entry}: imports {imported}, which the package lacks")
    return problems


def _imports(asd: bytes) -> list[str]:
    """The files an ASD imports (``imports:``), relative to it."""
    doc = yaml.safe_load(asd) or {}
    return [
        str(i if isinstance(i, str) else (i or {}).get("file", ""))
        for i in doc.get("imports") or []
    ]


def _check_chart(name: str, data: bytes) -> list[str]:
    """A Helm chart archive: one top folder holding Chart.yaml whose name-version is the
    archive's name (what the rApp Manager's chart repository will index it under)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            tops = {n.split("/", 1)[0] for n in members}
            if len(tops) != 1:
                return [f"{name}: a chart archive holds one top folder, not {sorted(tops)}"]
            top = tops.pop()
            chart_yaml = members.get(f"{top}/Chart.yaml")
            if chart_yaml is None:
                return [f"{name}: no {top}/Chart.yaml"]
            meta = yaml.safe_load(tar.extractfile(chart_yaml).read())  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        return [f"{name}: not a gzip'd tar archive: {exc}"]
    except yaml.YAMLError as exc:
        return [f"{name}: Chart.yaml is not valid YAML: {exc}"]
    if not isinstance(meta, dict):
        return [f"{name}: Chart.yaml is not a mapping"]
    expected = f"{meta.get('name')}-{meta.get('version')}.tgz"
    if PurePosixPath(name).name != expected:
        return [f"{name}: its Chart.yaml says {expected}"]
    return []


def _tosca_meta(data: bytes) -> dict[str, str]:
    pairs = (line.partition(":") for line in data.decode("utf-8", "replace").splitlines())
    return {k.strip(): v.strip() for k, sep, v in pairs if sep}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
