"""``fieldSelector`` and ``labelSelector`` of a PackageRevision list, with Porch's 400 texts.

Field selectors are what Porch accepts (``PackageRevisionSelectableFields`` plus
``spec.packageMetadata.labels[<key>]``), only with ``=`` or ``==``; label selectors follow
Kubernetes' grammar (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simulators.porch import errors
from simulators.porch.names import revision_number
from simulators.porch.revisions import Revision

LIFECYCLES = ("Draft", "Proposed", "Published", "DeletionProposed")
FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "spec.revision",
    "spec.packageName",
    "spec.repository",
    "spec.workspaceName",
    "spec.lifecycle",
)
_PKG_LABEL = re.compile(r"^spec\.packageMetadata\.labels\[(.*)\]$")
_SET = re.compile(r"^\s*(!?)([^\s!=()]+)\s*(?:(==|!=|=)\s*(\S*)|\s+(in|notin)\s*\((.*)\))?\s*$")


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """Parsed field selector: each set attribute must match; ``None`` matches anything."""

    name: str | None = None
    namespace: str | None = None
    revision: int | None = None
    package: str | None = None
    repository: str | None = None
    workspace: str | None = None
    lifecycle: str | None = None
    kptfile_labels: tuple[tuple[str, str], ...] = ()

    def matches(self, rev: Revision, namespace: str) -> bool:
        """Every field set here equals the revision's (Kptfile labels are checked apart)."""
        wanted = (
            (self.name, rev.name),
            (self.namespace, namespace),
            (self.revision, rev.revision),
            (self.package, rev.package),
            (self.repository, rev.repository),
            (self.workspace, rev.workspace),
            (self.lifecycle, rev.lifecycle),
        )
        return all(want is None or want == have for want, have in wanted)


def parse_field_selector(text: str | None) -> FieldFilter:
    values: dict[str, str] = {}
    kpt_labels: list[tuple[str, str]] = []
    for raw in _split(text or ""):
        field, op, value = _field_requirement(raw)
        if op not in ("=", "=="):
            raise errors.bad_request(
                f'unsupported fieldSelector operator "{op}" for field "{field}"'
            )
        if value == "":
            raise errors.bad_request(
                f'unsupported fieldSelector value "" for field "{field}" with operator "{op}"'
            )
        if m := _PKG_LABEL.match(field):
            if not m[1]:
                raise errors.bad_request(f'label key cannot be empty in field selector "{field}"')
            kpt_labels.append((m[1], value))
            continue
        if field not in FIELDS:
            raise errors.bad_request(f'"{field}" is not a known field selector')
        if field == "spec.lifecycle" and value not in LIFECYCLES:
            raise errors.bad_request(
                f'unsupported fieldSelector value "{value}" for field "spec.lifecycle"'
            )
        values[field] = value
    revision = values.get("spec.revision")
    return FieldFilter(
        name=values.get("metadata.name"),
        namespace=values.get("metadata.namespace"),
        revision=None if revision is None else revision_number(revision),
        package=values.get("spec.packageName"),
        repository=values.get("spec.repository"),
        workspace=values.get("spec.workspaceName"),
        lifecycle=values.get("spec.lifecycle"),
        kptfile_labels=tuple(kpt_labels),
    )


def _field_requirement(raw: str) -> tuple[str, str, str]:
    for op in ("==", "!=", "="):
        field, sep, value = raw.partition(op)
        if sep:
            return field.strip(), op, value.strip()
    raise errors.bad_request(f"invalid selector: '{raw}'; can't understand '{raw}'")


LabelMatcher = Callable[[Mapping[str, str]], bool]


def parse_label_selector(text: str | None) -> LabelMatcher:
    """A predicate over an object's labels; every requirement must hold."""
    checks = [_label_requirement(raw) for raw in _split(text or "")]
    return lambda labels: all(check(labels) for check in checks)


def _label_requirement(raw: str) -> LabelMatcher:
    m = _SET.match(raw)
    if m is None:
        raise errors.bad_request(f"unable to parse requirement: {raw!r}")
    negate, key, op, value, set_op, members = m.groups()
    if negate and (op or set_op):
        raise errors.bad_request(f"unable to parse requirement: {raw!r}")
    if negate:
        return lambda labels: key not in labels
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    if set_op:
        allowed = {v.strip() for v in members.split(",")}
        if set_op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    return lambda labels: key in labels


def _split(text: str) -> list[str]:
    """Split on commas that are not inside ``( )`` (a set-based value list)."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]
