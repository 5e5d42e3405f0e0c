"""Read an OPA bundle (``.tar.gz``) into a ``PolicySet``, as ``opa run --bundle`` would.

A bundle holds ``*.rego`` modules and ``data.json`` (or ``data.yaml``) documents anywhere in its
tree; a data file in directory ``a/b`` is the document at ``data.a.b``. ``.manifest`` may name
the bundle's revision and roots, which the policy set's own revision (a hash of its content)
makes unnecessary here. Nothing is extracted to disk: members are read in memory, and anything
that is not a regular file, or is too large, is refused with the member's name.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from rapp.policy.loader import PolicyError, PolicySet, check_policy_set

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""Largest bundle read (compressed or not): policy sets are kilobytes; more is a mistake."""


def load_bundle(path: Path) -> PolicySet:
    """The bundle at ``path``, checked like a policy directory."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"bundle {path}: {exc.strerror or exc}") from None
    return read_bundle(raw, name=path.name)


def read_bundle(raw: bytes, *, name: str = "bundle") -> PolicySet:
    """A bundle from its bytes (an upload, or a file read)."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise PolicyError(f"{name}: {len(raw)} bytes is more than a policy bundle should hold")
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            total = 0
            for member in tar:
                where = _member_path(member.name)
                if member.isdir() or where is None:
                    continue
                if not member.isfile():
                    raise PolicyError(f"{name}: {member.name} is not a regular file")
                total += member.size
                if total > MAX_BUNDLE_BYTES:
                    raise PolicyError(f"{name}: unpacks to more than {MAX_BUNDLE_BYTES} bytes")
                handle = tar.extractfile(member)
                content = handle.read() if handle is not None else b""
                _add(where, content, modules, data, name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PolicyError(f"{name}: not a readable .tar.gz bundle: {exc}") from None
    if not modules:
        raise PolicyError(f"{name}: no .rego files in the bundle")
    policy_set = PolicySet.create(modules, data)
    check_policy_set(policy_set)
    return policy_set


def _member_path(name: str) -> PurePosixPath | None:
    """The member's path inside the bundle; None for what a bundle may carry but we skip."""
    path = PurePosixPath(name.lstrip("/"))
    if ".." in path.parts:
        raise PolicyError(f"bundle member {name} points outside the bundle")
    if path.name in ("", ".manifest", ".signatures.json") or path.name.startswith("._"):
        return None
    return path


def _add(
    path: PurePosixPath,
    content: bytes,
    modules: dict[str, str],
    data: dict[str, Any],
    name: str,
) -> None:
    text = content.decode("utf-8", errors="replace")
    if path.suffix == ".rego":
        modules[path.as_posix()] = text
        return
    if path.name not in ("data.json", "data.yaml", "data.yml"):
        return  # READMEs, signatures, wasm: not part of what is evaluated here
    where = f"{name}:{path.as_posix()}"
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(exc.msg, file=where, line=exc.lineno, col=exc.colno) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", file=where) from None
    node = data
    for part in path.parent.parts:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PolicyError(f"data at {path.parent.as_posix()} clashes with another document")
        node = child
    if not isinstance(document, dict):
        raise PolicyError("a data document must be an object", file=where)
    _merge(node, document, where)


def _merge(into: dict[str, Any], document: dict[str, Any], where: str) -> None:
    for key, value in document.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, where)
        elif key in into:
            raise PolicyError(f"data key {key!r} is defined twice", file=where)
        else:
            into[key] = value
