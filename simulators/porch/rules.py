"""Porch's validation rules as pure functions: request shapes, create, update and approval.

Each function mirrors one piece of Porch and returns what it would: ``decode`` the JSON decoding
of the request body (400), ``validate_create`` ``packageRevisionStrategy.Validate``,
``validate_update`` ``packageRevisionStrategy.ValidateUpdate`` and ``validate_approval``
``packageRevisionApprovalStrategy.ValidateUpdate`` (422 field errors). The engine's checks that
answer 500 (tasks, sources, resourceVersion) live with the operations in ``store.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulators.porch import errors
from simulators.porch.errors import FieldError
from simulators.porch.names import API_VERSION, directory_errors, label_errors
from simulators.porch.revisions import LATEST_LABEL, PUBLISHED

LIFECYCLES = ("Draft", "Proposed", "Published", "DeletionProposed")
_LATEST_FIELD = f"metadata.labels.{LATEST_LABEL}"

# Go types of the fields a client sends, checked as encoding/json would (wrong type: 400).
_META_FIELDS = {"name": str, "namespace": str, "resourceVersion": str, "labels": dict}
_META_FIELDS |= {"annotations": dict}
_SPEC_FIELDS: dict[str, dict[str, type]] = {
    "PackageRevision": {
        "packageName": str, "repository": str, "workspaceName": str, "revision": int,
        "lifecycle": str, "tasks": list, "readinessGates": list, "packageMetadata": dict,
    },
    "PackageRevisionResources": {
        "packageName": str, "repository": str, "workspaceName": str, "revision": int,
        "resources": dict,
    },
}  # fmt: skip
_GO_TYPES = {str: "string", int: "int", list: "array", dict: "object", bool: "bool"}


def decode(body: Any, kind: str) -> dict[str, Any]:
    """The request body as a ``kind`` object, or a 400 worded like kube-apiserver's decoder."""
    prefix = f'{kind} in version "v1alpha1" cannot be handled as a {kind}'
    if not isinstance(body, dict):
        raise errors.bad_request(f"{prefix}: json: cannot unmarshal into Go value of type {kind}")
    if body.get("kind") not in (None, "", kind):
        raise errors.bad_request(f"{prefix}: the kind of the body is {body['kind']!r}")
    if body.get("apiVersion") not in (None, "", API_VERSION):
        raise errors.bad_request(f"{prefix}: unsupported apiVersion {body['apiVersion']!r}")
    meta, spec = body.get("metadata"), body.get("spec")
    _check(prefix, "ObjectMeta.metadata", meta, dict)
    _check(prefix, f"{kind}.spec", spec, dict)
    for key, typ in _META_FIELDS.items():
        _check(prefix, f"ObjectMeta.metadata.{key}", (meta or {}).get(key), typ)
    for key in ("labels", "annotations"):
        for k, v in ((meta or {}).get(key) or {}).items():
            _check(prefix, f"ObjectMeta.metadata.{key}.{k}", v, str)
    for key, typ in _SPEC_FIELDS[kind].items():
        _check(prefix, f"{kind}Spec.spec.{key}", (spec or {}).get(key), typ)
    for i, task in enumerate((spec or {}).get("tasks") or []):
        _check(prefix, f"{kind}Spec.spec.tasks[{i}]", task, dict)
        _check(prefix, f"Task.spec.tasks[{i}].type", task.get("type"), str)
    for name, text in ((spec or {}).get("resources") or {}).items():
        _check(prefix, f"{kind}ResourcesSpec.spec.resources.{name}", text, str)
    return body


def _check(prefix: str, where: str, value: Any, typ: type) -> None:
    if value is None:
        return
    ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
    if not ok:
        got = _GO_TYPES.get(type(value), "value")
        raise errors.bad_request(
            f"{prefix}: json: cannot unmarshal {got} into Go struct field {where} "
            f"of type {_GO_TYPES[typ]}"
        )


def check_name(body: Mapping[str, Any], name: str, namespace: str) -> None:
    """kube-apiserver's ``checkName`` for an update: the body must name the URL's object."""
    meta = body.get("metadata") or {}
    if meta.get("name", "") != name:
        raise errors.bad_request(
            f"the name of the object ({meta.get('name', '')}) does not match the name on the "
            f"URL ({name})"
        )
    if meta.get("namespace") not in (None, "", namespace):
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def validate_create(body: Mapping[str, Any]) -> list[FieldError]:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    errs = []
    if LATEST_LABEL in (meta.get("labels") or {}):
        errs.append(
            FieldError(
                "Forbidden", _LATEST_FIELD, "label is managed by porch and cannot be set by users"
            )
        )
    package = spec.get("packageName", "")
    if bad := directory_errors(package, mandatory=True):
        errs.append(FieldError("Invalid", "spec.packageName", ",".join(bad), package))
    workspace = spec.get("workspaceName", "")
    if bad := label_errors(workspace):
        errs.append(FieldError("Invalid", "spec.workspaceName", ",".join(bad), workspace))
    lifecycle = spec.get("lifecycle", "")
    if lifecycle not in ("", "Draft"):
        errs.append(
            FieldError("Invalid", "spec.lifecycle", "value can be only created as Draft", lifecycle)
        )
    return errs


def validate_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """A normal update (PUT packagerevisions/{name}); ``old`` is the object as served."""
    errs = []
    old_latest = ((old.get("metadata") or {}).get("labels") or {}).get(LATEST_LABEL, "")
    new_latest = ((new.get("metadata") or {}).get("labels") or {}).get(LATEST_LABEL, "")
    if old_latest != new_latest:
        errs.append(
            FieldError(
                "Forbidden",
                _LATEST_FIELD,
                "label is managed by porch and cannot be modified by users",
            )
        )
    old_spec, new_spec = old.get("spec") or {}, dict(new.get("spec") or {})
    old_lc, new_lc = old_spec.get("lifecycle", ""), new_spec.get("lifecycle", "")
    if new_lc not in ("", *LIFECYCLES):
        detail = "value can be only updated to " + ",".join(LIFECYCLES)
        errs.append(FieldError("Invalid", "spec.lifecycle", detail, new_lc))
    if old_lc in ("", "Draft", "Proposed"):
        if new_lc not in ("", "Draft", "Proposed"):
            # Porch shows the *old* lifecycle as the invalid value here; so do we.
            detail = "value can be only updated to Draft,Proposed"
            errs.append(FieldError("Invalid", "spec.lifecycle", detail, old_lc))
    elif old_lc in PUBLISHED:
        if "packageMetadata" not in new_spec:  # PrepareForUpdate keeps the old one
            new_spec["packageMetadata"] = old_spec.get("packageMetadata")
        compared = dict(new_spec)
        if new_lc in PUBLISHED:
            compared["lifecycle"] = old_lc
        if _zeroless(compared) != _zeroless(old_spec):
            detail = "spec can only update package with lifecycle value one of Draft,Proposed"
            errs.append(FieldError("Invalid", "spec", detail, new_spec))
    return errs


def validate_approval(old_lifecycle: str, new_lifecycle: str) -> list[FieldError]:
    """PUT packagerevisions/{name}/approval: the only way to Published."""
    errs = []
    if old_lifecycle == "Published":
        if new_lifecycle != "DeletionProposed":
            detail = (
                "package with Published lifecycle value can only be updated to 'ProposeDeletion'"
            )
            errs.append(FieldError("Invalid", "spec.lifecycle", detail, old_lifecycle))
    elif old_lifecycle == "DeletionProposed":
        if new_lifecycle != "Published":
            detail = (
                "package with DeletionProposed lifecycle value can only be updated to 'Published'"
            )
            errs.append(FieldError("Invalid", "spec.lifecycle", detail, old_lifecycle))
    elif old_lifecycle != "Proposed":
        detail = (
            f"cannot approve package with {old_lifecycle} lifecycle value; "
            "only Proposed packages can be approved"
        )
        errs.append(FieldError("Invalid", "spec.lifecycle", detail, old_lifecycle))
    if new_lifecycle == "DeletionProposed":
        if old_lifecycle != "Published":
            detail = (
                "cannot update lifecycle DeletionProposed; "
                "only Published packages require approval for deletion"
            )
            errs.append(FieldError("Invalid", "spec.lifecycle", detail, new_lifecycle))
    elif new_lifecycle not in ("Draft", "Published"):
        detail = "value for approval can be only one of Draft,Published"
        errs.append(FieldError("Invalid", "spec.lifecycle", detail, new_lifecycle))
    return errs


def _zeroless(value: Any) -> Any:
    """``equality.Semantic.DeepEqual`` of decoded Go structs: an absent field and its zero value
    (``""``, 0, false, empty list or map) are the same thing."""
    if isinstance(value, dict):
        kept = {k: _zeroless(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_zeroless(v) for v in value]
    return value
