"""Object names, uids and Kubernetes name validation, as Porch v1.4+ (Nephio R5) computes them.

A revision is named ``<repo>.<package path with "/" turned into ".">.<workspace>``
(porch ``util.ComposePkgRevObjName``), so ``nested/upf`` in ``edge`` under workspace ``ws`` is
``edge.nested.upf.ws``. Its uid is a name-based UUID (``util.GenerateUid``), identical to the one
real Porch would give the same revision.
"""

from __future__ import annotations

import re
import uuid

API_VERSION = "porch.kpt.dev/v1alpha1"
_UID_SPACE = uuid.UUID("aac71d91-5c67-456f-8fd2-902ef6da820e")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def revision_name(repository: str, package: str, workspace: str) -> str:
    dotted = package.replace("/", ".").strip(".")
    return f"{repository}.{dotted}.{workspace}"


def uid(namespace: str, name: str) -> str:
    """``util.GenerateUid("packagerevision:", ns, name)``: stable across restarts."""
    key = f"packagerevision:{API_VERSION}/{namespace.lower()}/{name.lower()}"
    return str(uuid.uuid5(_UID_SPACE, key))


def label_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Label``."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL.match(value):
        errs.append(_LABEL_MSG)
    return errs


def subdomain_errors(value: str) -> list[str]:
    """``validation.IsDNS1123Subdomain``."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _SUBDOMAIN.match(value):
        errs.append(_SUBDOMAIN_MSG)
    return errs


def directory_errors(directory: str, *, mandatory: bool) -> list[str]:
    """``util.ValidateDirectoryName``: a DNS label once the '/'s are removed."""
    errs = []
    if "//" in directory:
        errs.append("consecutive '/' characters are not allowed")
    bare = directory.replace("/", "")
    if mandatory or bare:
        errs.extend(label_errors(bare))
    else:
        return []
    return errs


def object_name_error(repository: str, package: str, workspace: str) -> str | None:
    """``util.ValidPkgRevObjName``'s text, or None when the composed name is valid."""
    path, _, leaf = package.rpartition("/")
    parts: list[str] = []
    if errs := label_errors(repository):
        parts.append(f'repository part "{repository}" of object name invalid\n')
        parts.append(f"repository name {repository} invalid: {','.join(errs)}\n")
    if errs := directory_errors(path, mandatory=False):
        parts.append(f'package path part "{path}" of object name invalid\n')
        parts.append(f"path {path} invalid: {','.join(errs)}\n")
    if errs := label_errors(leaf):
        parts.append(f'package name part "{leaf}" of object name invalid\n')
        parts.append(f"package name {leaf} invalid: {','.join(errs)}\n")
    if errs := label_errors(workspace):
        parts.append(f'workspace name part "{workspace}" of package revision name invalid\n')
        parts.append(f"workspace name {workspace} invalid: {','.join(errs)}\n")
    if not parts:
        name = revision_name(repository, package, workspace)
        if errs := subdomain_errors(name):
            parts.append(f'package revision kubernetes name "{name}" invalid\n')
            parts.append(f"package revision kubernetes name {name} invalid: {''.join(errs)}\n")
    if not parts:
        return None
    return "package revision kubernetes resource name invalid:\n" + "".join(parts)


def revision_number(text: str) -> int:
    """``repository.Revision2Int``: ``v3`` -> 3; anything not an integer (``v2.0.0``) -> -1."""
    digits = text.removeprefix("v")
    return int(digits) if re.fullmatch(r"[+-]?\d+", digits) else -1
